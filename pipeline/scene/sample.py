"""A job's sample: its emitters (uniform, from a file, or fluorophores on a structure's sites), their
illumination, blinking and dipoles, the stage drift — or the rows of a ground truth to re-render.

Each draw comes from a random stream of its own (docs/physics.md §8), so that turning one feature on
leaves every other draw, and so every other job's bytes, as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.drift import drift_table
from kernels.illumination import flat_top_profile, gaussian_profile, image_profile, radial_sigmoid_profile
from kernels.photophysics import (Emitters, Events, draw_flux, four_state_events, markov_events, paint_events,
                                  place_emitters, single_events)
from kernels.rng import generator, key_words
from kernels.structures import Labels, Sites, density_sites, filament_sites, grid_sites, label_sites, npc_sites

from ..config import JobConfig
from ..inputs import load_positions
from ..inputs.images import load_image
from ..inputs.truth_source import TruthSource, open_source
from ..plan import Job


def _positions(config: JobConfig) -> np.ndarray | None:
    return load_positions(config.emitters.positions_file) if config.emitters.positions_file else None


def illumination_at(config: JobConfig, x_nm: np.ndarray, y_nm: np.ndarray) -> np.ndarray:
    """Relative excitation intensity at positions (1 = the profile's peak; all 1 when flat)."""
    ill, pixel_nm = config.illumination, config.optics.pixel_size_nm
    if ill.profile == "flat":
        return np.ones(np.shape(x_nm))
    height, width = config.camera.roi_shape
    centre = tuple(ill.centre_nm) if ill.centre_nm is not None else (0.5 * width * pixel_nm, 0.5 * height * pixel_nm)
    if ill.profile == "gaussian":
        return gaussian_profile(x_nm, y_nm, centre, ill.waist_nm)
    if ill.profile == "flat-top":
        return flat_top_profile(x_nm, y_nm, centre, ill.waist_nm, ill.order)
    if ill.profile == "sigmoid":
        return radial_sigmoid_profile(x_nm, y_nm, centre, ill.half_max_radius_nm, ill.quarter_max_radius_nm)
    return image_profile(x_nm, y_nm, load_image(ill.file), ill.file_pixel_size_nm or pixel_nm)


@dataclass(frozen=True, eq=False)
class Sample:
    """What a job's ground truth is made of: its random-stream key, emitters and on-events."""

    key: tuple[int, ...]
    emitters: Emitters
    events: Events
    dipoles: dict[str, np.ndarray] | None = None  # fixed dipoles: polar_rad, azimuth_rad per emitter
    sites: Sites | None = None  # a structure's sites (emitters.structure other than uniform/positions)
    labels: Labels | None = None  # which site and structure each emitter labels
    drift_nm: np.ndarray | None = None  # (frames, 3) stage drift of every frame
    source: TruthSource | None = None  # emitters.source: the rows to render
    illumination: np.ndarray | None = None  # relative excitation at each emitter (flux_photons include it)


def _placement(config: JobConfig) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    """(x0, x1, y0, y1) of the area_px square centred on the ROI, and the z range, nm."""
    em, pixel_nm = config.emitters, config.optics.pixel_size_nm
    height, width = config.camera.roi_shape
    half, cx, cy = 0.5 * em.area_px * pixel_nm, 0.5 * width * pixel_nm, 0.5 * height * pixel_nm
    half_z = 500.0 * em.z_range_um
    return (cx - half, cx + half, cy - half, cy + half), (-half_z, half_z)


def structure_sites(config: JobConfig, rng: np.random.Generator) -> Sites:
    """The sites of the job's structure (``emitters.structure``), from the job's "structure" stream."""
    em = config.emitters
    box, z = _placement(config)
    where = dict(box_nm=box, z_range_nm=z)
    if em.structure == "grid":
        return grid_sites(rng, em.structure_count, em.grid_rows, em.grid_columns, em.grid_spacing_nm,
                          lattice=em.grid_lattice, rotate=em.grid_rotate, **where)
    if em.structure == "npc":
        return npc_sites(rng, em.structure_count, em.npc_radius_nm, em.npc_ring_separation_nm,
                         labels_per_corner=em.npc_labels_per_corner, tilt_deg=em.npc_tilt_deg, **where)
    if em.structure == "filaments":
        return filament_sites(rng, em.structure_count, em.filament_length_nm, em.filament_persistence_nm,
                              diameter_nm=em.filament_diameter_nm, sites_per_um=em.filament_sites_per_um, **where)
    if em.structure == "density":
        return density_sites(rng, load_image(em.density_file), em.density_pixel_size_nm, em.density_sites,
                             z_range_nm=z)
    raise ValueError(f"no sites for structure {em.structure!r}")


def _emitters(config: JobConfig, key: tuple[int, ...]) -> tuple[Emitters, Sites | None, Labels | None]:
    em = config.emitters
    if not em.labelled:
        emitters = place_emitters(
            generator(key, "emitters"), em.num_emitters, config.camera.roi_shape, config.optics.pixel_size_nm,
            em.area_px, em.z_range_um, em.intensity_mu, em.intensity_sigma, positions_nm=_positions(config),
        )
        return emitters, None, None
    # streams of their own: the uniform placement's "emitters" stream then only draws the brightness
    sites = structure_sites(config, generator(key, "structure"))
    labels = label_sites(generator(key, "labelling"), sites, em.labelling_efficiency, em.fluorophores_per_label,
                         em.fluorophores_poisson, em.linkage_error_nm)
    flux = draw_flux(generator(key, "emitters"), len(labels.x_nm), em.intensity_mu, em.intensity_sigma)
    return Emitters(labels.x_nm, labels.y_nm, labels.z_nm, flux), sites, labels


def _drift(config: JobConfig, key: tuple[int, ...], frames: int) -> np.ndarray | None:
    d = config.drift
    if not d.active:
        return None
    return drift_table(generator(key, "drift"), frames, d.x_nm, d.y_nm, d.z_nm, d.walk_nm, d.walk_z_nm)


def job_drift(job: Job) -> np.ndarray | None:
    """The job's stage drift of every frame, (frames, 3) nm, or None without drift."""
    return _drift(job.config, key_words(job.sweep_seed, job.seed_digest), job.frames)


def build_sample(job: Job) -> Sample:
    """Emitters and on-events of a job (reads only the positions, density or source file, never builds a PSF)."""
    config = job.config
    em = config.emitters
    key = key_words(job.sweep_seed, job.seed_digest)
    drift = _drift(config, key, job.frames)
    if em.source:  # the rows are given: no emitters of our own, no blinking
        nothing = np.empty(0)
        return Sample(key, Emitters(nothing, nothing, nothing, nothing), Events(nothing.astype(np.int64), nothing, nothing),
                      drift_nm=drift, source=open_source(em.source))
    emitters, sites, labels = _emitters(config, key)
    intensity = None
    if config.illumination.active:  # the excitation at each emitter scales its photons
        intensity = illumination_at(config, emitters.x_nm, emitters.y_nm)
        emitters = Emitters(emitters.x_nm, emitters.y_nm, emitters.z_nm, emitters.flux_photons * intensity)
    events = _events(config, generator(key, "blinking"), len(emitters),
                     intensity if config.illumination.activation else None)
    return Sample(key, emitters, events, _dipoles(config, key, len(emitters)), sites, labels, drift,
                  illumination=intensity)


def _events(config: JobConfig, rng: np.random.Generator, n: int, activation: np.ndarray | None) -> Events:
    em = config.emitters
    if em.blinking == "single":
        return single_events(rng, n, em.frames, em.lifetime_avg)
    if em.blinking == "markov":
        return markov_events(rng, n, em.frames, em.lifetime_avg, em.off_time_avg, em.bleach_prob,
                             activation_scale=activation)
    if em.blinking == "four-state":
        return four_state_events(rng, n, em.frames, em.lifetime_avg, None, em.dark_time_avg, em.bleach_time_avg,
                                 activation_scale=activation, lead_in_frames=em.lead_in_frames)
    return paint_events(rng, n, em.frames, em.binding_rate_per_s, em.bound_time_s, config.camera.frame_interval_ms)


def _dipoles(config: JobConfig, key: tuple[int, ...], n: int) -> dict[str, np.ndarray] | None:
    """Fixed dipoles' orientations, from a stream of their own (the other streams, and so every other
    job's bytes, are untouched): uniform on the sphere (an axial vector: polar angle in [0, pi/2]), or
    at ``dipole_polar_deg`` from the axis with uniform azimuths."""
    optics = config.optics
    if optics.psf != "vectorial" or optics.dipole != "fixed":
        return None
    rng = generator(key, "dipoles")
    cos_polar = rng.random(n)
    polar = np.arccos(cos_polar) if optics.dipole_polar_deg is None else np.full(n, np.deg2rad(optics.dipole_polar_deg))
    return {"polar_rad": polar, "azimuth_rad": 2.0 * np.pi * rng.random(n)}
