"""Render one chunk of frames: blinking emitters → PSF patches → camera.

A :class:`Scene` is everything job-level (emitters, their on-events, the PSF and camera models,
the random-stream key), built once per job. :func:`render_chunk` turns frames ``[t0, t1)`` of a
scene into an image stack and the matching ground-truth rows. It holds O(one chunk) memory and
gives the same bytes for a frame whatever chunk it is rendered in: per-frame random streams,
per-emitter PSF patches, and a fixed scatter order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from .background import temporal_factor
from .camera import Camera, expected_adu, expose, expose_sparse
from .mapsampler import map_sampler
from .photophysics import Emitters, Events, frame_photons
from .psf import Patches
from .rng import generator

__all__ = ["RowSource", "Scene", "TRUTH_DTYPE", "render_chunk", "render_expected", "truth_rows"]

#: one row per emitter per frame in which it emits (design §6, table ``localizations``)
TRUTH_DTYPE = np.dtype([
    ("frame", "<i8"), ("id", "<i8"), ("x_nm", "<f8"), ("y_nm", "<f8"), ("z_nm", "<f8"),
    ("photons", "<f8"), ("on_fraction", "<f8"),
])


class PSF(Protocol):
    radius_px: int

    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int = ...) -> Patches: ...


class RowSource(Protocol):
    """Ground-truth rows of frames ``[t0, t1)`` (:data:`TRUTH_DTYPE`, sorted by frame), e.g. read from a file."""

    def __call__(self, t0: int, t1: int) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Scene:
    """The job-level state that every chunk of a movie shares.

    Attributes
    ----------
    key : tuple of int
        Random-stream key of the job (:func:`kernels.rng.key_words`).
    roi_shape : (int, int)
        Frame (height, width), pixels.
    pixel_size_nm : float
    background_photons : float
        Photons per pixel per frame added to every pixel.
    emitters : Emitters
    events : Events
        On-intervals of the emitters.
    psf : GaussianPSF | AstigmaticPSF | ZernikePSF
    camera : Camera
    coeffs_nm : ndarray (n_emitters, len(psf.noll)) or None
        Per-emitter (field-dependent) Zernike coefficients, nm.
    psf_params : dict of (n_emitters,) arrays, optional
        Further per-emitter arguments of ``psf.render`` (a fixed dipole's ``polar_rad``, ``azimuth_rad``).
    background_map : ndarray (Y, X) of float32, optional
        Expected background photons per pixel per frame (:func:`kernels.background.background_map`);
        replaces ``background_photons``. Frames are drawn by :class:`kernels.mapsampler.MapSampler`
        (exact per-level tables plus the chain for a few pixels) where it models the camera, else
        through the camera's whole chain.
    background_bleach_tau_frames : float, optional
        Background bleaching ``exp(-t / tau)``, t = 0-based frame index (:func:`kernels.background.temporal_factor`).
    background_fluctuation : float
        Per-frame log-normal fluctuation of the background (std of its log); drawn from the
        per-frame stream ``"background"``.
    """

    key: tuple[int, ...]
    roi_shape: tuple[int, int]
    pixel_size_nm: float
    background_photons: float
    emitters: Emitters
    events: Events
    psf: PSF
    camera: Camera
    coeffs_nm: np.ndarray | None = None
    psf_params: dict[str, np.ndarray] | None = None  # per-emitter keyword arrays of psf.render (dipole angles)
    drift_nm: np.ndarray | None = None  # (frames, 3): x, y, z stage drift of each frame, added to every emitter
    source: RowSource | None = None  # the rows to render (re-rendering a ground truth) instead of emitters and events
    coeffs_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None  # (x_px, y_px) -> Zernike coefficients

    @property
    def per_row(self) -> bool:
        """Whether each ground-truth row has a position of its own (drift, or rows given): one patch per row."""
        return self.drift_nm is not None or self.source is not None

    def row_coeffs(self, truth: np.ndarray) -> np.ndarray | None:
        """Field-dependent Zernike coefficients of ground-truth rows (where each row is)."""
        if self.coeffs_at is not None:
            return self.coeffs_at(truth["x_nm"] / self.pixel_size_nm, truth["y_nm"] / self.pixel_size_nm)
        return None if self.coeffs_nm is None else self.coeffs_nm[truth["id"]]

    background_map: np.ndarray | None = None
    background_bleach_tau_frames: float | None = None
    background_fluctuation: float = 0.0

    @property
    def background_varies(self) -> bool:
        """Whether the background differs from ``background_photons`` in space or time."""
        return (self.background_map is not None or self.background_bleach_tau_frames is not None
                or self.background_fluctuation > 0)

    def background_factor(self, t0: int, t1: int) -> np.ndarray:
        """Temporal factor of the background for frames ``[t0, t1)`` (float64; all 1 when off)."""
        frames = np.arange(t0, t1)
        rngs = ([generator(self.key, "background", frame=int(f)) for f in frames]
                if self.background_fluctuation > 0 else None)
        return temporal_factor(frames, self.background_bleach_tau_frames, self.background_fluctuation, rngs)


def _footprint(row0: np.ndarray, col0: np.ndarray, size: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat frame index of every patch pixel (k, P, P), and which of them lie inside the frame."""
    height, width = shape
    steps = np.arange(size)
    rows = row0[:, None] + steps  # (k, P)
    cols = col0[:, None] + steps
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    return rows[:, :, None] * width + cols[:, None, :], inside


def _scatter(image: np.ndarray, patches: np.ndarray, row0: np.ndarray, col0: np.ndarray) -> None:
    """Add patches (k, P, P) into ``image`` (Y, X) in place, dropping pixels outside the frame."""
    flat, inside = _footprint(row0, col0, patches.shape[-1], image.shape)
    # add.at accumulates in row order: the same rows in the same order give the same bytes
    np.add.at(image.reshape(-1), flat[inside], patches[inside])


def _painter(scene: Scene, t0: int, t1: int):
    """``paint(i, image)`` writes frame ``t0 + i``'s expected photons into ``image``;
    ``paint_sparse(i)`` returns only its pixels that differ from the background; and the truth rows.

    Patches are rendered once for the chunk (an emitter that stays on over several frames is
    rendered once and scaled per frame); frames are painted one at a time into any buffer.
    """
    truth = truth_rows(scene, t0, t1)
    if scene.per_row:
        # every row where it is in its frame: one patch per row
        ids, inverse = truth["id"], np.arange(len(truth))
        where = truth
    else:
        # an emitter that stays on over several frames is rendered once and scaled per frame
        ids, inverse = np.unique(truth["id"], return_inverse=True)
        where = {"x_nm": scene.emitters.x_nm[ids], "y_nm": scene.emitters.y_nm[ids], "z_nm": scene.emitters.z_nm[ids],
                 "id": ids}
    coeffs = scene.row_coeffs(where)
    extra = {name: values[ids] for name, values in (scene.psf_params or {}).items()}
    patches = scene.psf.render(where["x_nm"] / scene.pixel_size_nm, where["y_nm"] / scene.pixel_size_nm,
                               where["z_nm"], coeffs, **extra)
    bounds = np.searchsorted(truth["frame"], np.arange(t0, t1 + 1))
    photons = truth["photons"].astype(np.float32)
    # per frame: the scalar background (float32), or the factor of the map
    if not scene.background_varies:
        levels = [np.float32(scene.background_photons)] * (t1 - t0)
    else:
        factor = scene.background_factor(t0, t1)
        levels = ([np.float32(f) for f in factor] if scene.background_map is not None
                  else [np.float32(scene.background_photons * f) for f in factor])
    bmap = None if scene.background_map is None else np.asarray(scene.background_map, dtype=np.float32)
    if bmap is not None and bmap.shape != tuple(scene.roi_shape):
        raise ValueError(f"background_map has shape {bmap.shape}, frames are {tuple(scene.roi_shape)}")

    def spots(i: int):
        sl = slice(bounds[i], bounds[i + 1])
        which = inverse[sl]
        return patches.values[which] * photons[sl, None, None], which

    def paint(i: int, image: np.ndarray) -> None:
        if bmap is not None:
            np.multiply(bmap, levels[i], out=image)  # the map times the frame's factor, float32
        else:
            image.fill(levels[i])
        weighted, which = spots(i)
        if len(which):
            _scatter(image, weighted, patches.row0[which], patches.col0[which])

    def paint_sparse(i: int) -> tuple[np.ndarray, np.ndarray]:
        """(flat index, photons) of the pixels that differ from the background (the level, or the map
        times the frame's factor): ``paint``'s values there, bit for bit (the same float32 additions
        in the same order)."""
        background = levels[i]
        weighted, which = spots(i)
        flat, inside = _footprint(patches.row0[which], patches.col0[which], patches.values.shape[-1],
                                  scene.roi_shape)
        index, where = np.unique(flat[inside], return_inverse=True)
        if bmap is None:
            values = np.full(index.size, background, dtype=np.float32)
            np.add.at(values, where, weighted[inside])
            lit = values != background
        else:
            # with a map: the map times the frame's factor there, as paint's float32 product
            base = bmap.reshape(-1)[index] * background
            values = base.copy()
            np.add.at(values, where, weighted[inside])
            lit = values != base
        return index[lit], values[lit]

    return paint, paint_sparse, truth, levels, bmap


def truth_rows(scene: Scene, t0: int, t1: int) -> np.ndarray:
    """Ground truth of frames ``[t0, t1)``: one row per emitter per frame in which it emits, where it is
    (drift included), sorted by frame then id; or the source's rows."""
    if scene.source is not None:
        return scene.source(t0, t1)
    rows = frame_photons(scene.events, scene.emitters.flux_photons, t0, t1)
    em = scene.emitters
    truth = np.empty(len(rows), dtype=TRUTH_DTYPE)
    truth["frame"] = rows.frame
    truth["id"] = rows.emitter
    truth["x_nm"] = em.x_nm[rows.emitter]
    truth["y_nm"] = em.y_nm[rows.emitter]
    truth["z_nm"] = em.z_nm[rows.emitter]
    truth["photons"] = rows.photons
    truth["on_fraction"] = rows.on_fraction
    if scene.drift_nm is not None:
        shift = scene.drift_nm[rows.frame]
        truth["x_nm"] += shift[:, 0]
        truth["y_nm"] += shift[:, 1]
        truth["z_nm"] += shift[:, 2]
    return truth


def render_expected(scene: Scene, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected photons per pixel (signal + background) for frames ``[t0, t1)``.

    Returns
    -------
    photons : (t1 - t0, Y, X) float32
    truth : structured array of :data:`TRUTH_DTYPE`
        Ground truth of the emitters that emit in those frames.
    """
    paint, _, truth, _, _ = _painter(scene, t0, t1)
    stack = np.empty((t1 - t0, *scene.roi_shape), dtype=np.float32)
    for i in range(t1 - t0):
        paint(i, stack[i])
    return stack, truth


def render_chunk(scene: Scene, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[t0, t1)`` as the camera records them, and their ground-truth rows.

    Returns
    -------
    frames : (t1 - t0, Y, X) uint16, or float32 expected ADU when ``camera.add_noise`` is false
    truth : structured array of :data:`TRUTH_DTYPE`
    """
    camera: Camera = scene.camera
    if not camera.add_noise:
        photons, truth = render_expected(scene, t0, t1)
        for i in range(photons.shape[0]):
            photons[i] = expected_adu(camera, photons[i])
        return photons, truth
    paint, paint_sparse, truth, levels, bmap = _painter(scene, t0, t1)
    frames = np.empty((t1 - t0, *scene.roi_shape), dtype=camera.output_dtype)
    sampler = map_sampler(camera, bmap) if bmap is not None else None
    if sampler is not None:
        # a background map: each pixel's level table, the rest of its Poisson draw where it is not 0
        for i, frame in enumerate(range(t0, t1)):
            index, photons = paint_sparse(i)
            sampler.expose(generator(scene.key, "camera", frame=frame), levels[i], index, photons, out=frames[i])
        return frames, truth
    if bmap is not None:
        # a map on a camera the level tables do not model: the whole frame goes through the chain
        image = np.empty(scene.roi_shape, dtype=np.float32)
        for i, frame in enumerate(range(t0, t1)):
            paint(i, image)
            frames[i] = expose(camera, image, generator(scene.key, "camera", frame=frame))
        return frames, truth
    # only the pixels that emitters reach are materialized; the camera draws the rest in one step
    for i, frame in enumerate(range(t0, t1)):
        index, photons = paint_sparse(i)
        expose_sparse(camera, scene.roi_shape, generator(scene.key, "camera", frame=frame),
                      levels[i], index, photons, out=frames[i])
    return frames, truth
