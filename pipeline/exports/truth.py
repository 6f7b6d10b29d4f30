"""Ground truth as files: ``emitters.h5`` (tables ``emitters`` and ``localizations``) and the ThunderSTORM CSV.

Both are streamed chunk by chunk from the per-chunk ground truth in the cache; the emitter table
is rebuilt from the job's emitters and on-events alone (no PSF, no camera).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from kernels.photophysics import Emitters, Events, total_photons
from kernels.crlb import CRLB_DTYPE
from kernels.render import TRUTH_DTYPE

from ..plan import Job
from ..scene import build_sample
from ..store import CacheDir
from .readback import iter_truth, truth_rows
from .thunderstorm import CSV_HEADER, csv_lines

EMITTER_UNITS = {
    "id": "index (0-based; = localizations.id)",
    "x_nm": "nm", "y_nm": "nm", "z_nm": "nm",
    "flux_photons": "photon/frame (while fully on)",
    "t_on": "frame (0-based, continuous: frame k spans [k, k+1))",
    "t_off": "frame (0-based, continuous: frame k spans [k, k+1))",
    "total_photons": "photon",
}
EMITTER_DESCRIPTIONS = {
    "id": "emitter id",
    "x_nm": "x position, to the right, origin at the top-left corner of pixel (0, 0)",
    "y_nm": "y position, downwards, origin at the top-left corner of pixel (0, 0)",
    "z_nm": "axial position; 0 = focal plane, > 0 away from the coverslip",
    "flux_photons": "photons per frame that reach the detector (before QE) while the emitter is fully on",
    "t_on": "start of the first on-event (NaN if never on)",
    "t_off": "end of the last on-event (NaN if never on)",
    "total_photons": "photons emitted within the movie (sum of localizations.photons of this id)",
}
LOCALIZATION_UNITS = {
    "frame": "frame (0-based)",
    "id": "index (0-based; = emitters.id)",
    "x_nm": "nm", "y_nm": "nm", "z_nm": "nm",
    "photons": "photon",
    "on_fraction": "1 (fraction of the frame the emitter is on)",
}
LOCALIZATION_DESCRIPTIONS = {
    "frame": "frame index",
    "id": "emitter id",
    "x_nm": "x position, to the right, origin at the top-left corner of pixel (0, 0)",
    "y_nm": "y position, downwards, origin at the top-left corner of pixel (0, 0)",
    "z_nm": "axial position; 0 = focal plane, > 0 away from the coverslip",
    "photons": "expected photons in this frame that reach the detector (before QE): the PSF's integral "
               "over the whole plane (the rendered patch is truncated at optics.psf_radius_px)",
    "on_fraction": "fraction of the frame during which the emitter is on",
}
#: with render.crlb: the Cramér–Rao bounds of each row (kernels.crlb.truth_crlb)
CRLB_UNITS = {"crlb_x_nm": "nm", "crlb_y_nm": "nm", "crlb_z_nm": "nm", "crlb_photons": "photon"}
CRLB_DESCRIPTIONS = {
    name: f"square root of the Cramér–Rao bound of {what} for this emitter alone on its rendered patch, with "
          "the frame's expected photons, the background and the camera's noise" + (" (NaN: the Gaussian model "
          "carries no z information)" if name == "crlb_z_nm" else "")
    for name, what in (("crlb_x_nm", "x"), ("crlb_y_nm", "y"), ("crlb_z_nm", "z"), ("crlb_photons", "the photons"))
}
CONVENTIONS = (
    "x to the right, y down; origin at the top-left corner of pixel (0, 0); the centre of pixel "
    "(row i, column j) is at ((j+0.5)*p, (i+0.5)*p) nm. z = 0 is the focal plane, z > 0 away from the "
    "coverslip. Frames are 0-based here and 1-based in localizations.csv (ThunderSTORM)."
)


#: with psf = "vectorial": each emitter's depth and collection efficiency (and a fixed dipole's angles)
VECTORIAL_UNITS = {"depth_nm": "nm", "collection_efficiency": "1", "polar_deg": "degree", "azimuth_deg": "degree"}
VECTORIAL_DESCRIPTIONS = {
    "depth_nm": "height above the coverslip: optics.focus_depth_nm + z_nm",
    "collection_efficiency": "fraction of the photons the dipole emits that the objective collects (flux_photons and "
                             "photons are the collected ones: divide by this for the emitted photons)",
    "polar_deg": "fixed dipole: angle from +z (into the sample), 0..90 degrees",
    "azimuth_deg": "fixed dipole: angle from +x toward +y, 0..360 degrees",
}


def vectorial_columns(job: Job, sample) -> dict[str, np.ndarray]:
    """The emitter table's columns of a vectorial job (no PSF is built: the powers are closed integrals)."""
    from kernels.vectorial import collection_efficiency

    optics = job.config.optics
    if optics.psf != "vectorial":
        return {}
    depth = optics.focus_depth_nm + sample.emitters.z_nm
    polar = None if sample.dipoles is None else sample.dipoles["polar_rad"]
    columns = {"depth_nm": depth, "collection_efficiency": collection_efficiency(
        depth, optics.wavelength_nm, optics.na, optics.immersion_index, optics.sample_index or optics.immersion_index,
        polar, np.deg2rad(optics.dipole_wobble_deg))}
    if sample.dipoles is not None:
        columns["polar_deg"] = np.rad2deg(sample.dipoles["polar_rad"])
        columns["azimuth_deg"] = np.rad2deg(sample.dipoles["azimuth_rad"])
    return columns


def emitter_table(emitters: Emitters, events: Events, frames: int, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Ground-truth table ``emitters`` (design §6): one row per emitter (and ``extra`` columns)."""
    n = len(emitters)
    extra = extra or {}
    table = np.zeros(n, dtype=[("id", "<i8"), ("x_nm", "<f8"), ("y_nm", "<f8"), ("z_nm", "<f8"),
                               ("flux_photons", "<f8"), ("t_on", "<f8"), ("t_off", "<f8"), ("total_photons", "<f8")]
                     + [(name, "<f8") for name in extra])
    for name, values in extra.items():
        table[name] = values
    table["id"] = np.arange(n)
    table["x_nm"], table["y_nm"], table["z_nm"] = emitters.x_nm, emitters.y_nm, emitters.z_nm
    table["flux_photons"] = emitters.flux_photons
    # first on and last off of each emitter (one event each for "single" blinking)
    table["t_on"] = np.inf
    table["t_off"] = -np.inf
    np.minimum.at(table["t_on"], events.emitter, events.t_on)
    np.maximum.at(table["t_off"], events.emitter, events.t_off)
    never = ~np.isfinite(table["t_on"])
    table["t_on"][never] = np.nan
    table["t_off"][never] = np.nan
    table["total_photons"] = total_photons(events, emitters.flux_photons, frames)
    return table


def _json_attr(obj: Any) -> str:
    return json.dumps(obj, default=str)


def _set_column_attrs(dataset, units: dict[str, str], descriptions: dict[str, str]) -> None:
    units = {name: units[name] for name in dataset.dtype.names}
    descriptions = {name: descriptions[name] for name in dataset.dtype.names}
    dataset.attrs["columns"] = _json_attr(list(dataset.dtype.names))
    dataset.attrs["units"] = _json_attr(units)
    dataset.attrs["descriptions"] = _json_attr(descriptions)
    for name in dataset.dtype.names:
        dataset.attrs[f"{name}_units"] = units[name]


def truth_dtype(job: Job) -> np.dtype:
    """The columns of the job's ground-truth rows (and of emitters.h5's ``localizations``)."""
    return np.dtype(TRUTH_DTYPE.descr + CRLB_DTYPE.descr) if job.config.render.crlb else TRUTH_DTYPE


def write_h5(path: Path, output: Path, job: Job, entries: list[dict], software: dict[str, str]) -> int:
    """``emitters`` and ``localizations`` tables (appended chunk by chunk); returns the number of localizations."""
    import h5py

    sample = build_sample(job)
    emitters = emitter_table(sample.emitters, sample.events, job.frames, vectorial_columns(job, sample))
    config = job.config
    with h5py.File(path, "w") as f:
        root = f.attrs
        root["job"] = job.name
        root["fingerprint"] = job.fingerprint
        root["parameters"] = _json_attr(config.model_dump(mode="json"))
        root["varied"] = _json_attr(job.varied)
        if job.draw is not None:  # a job of a random design (grid jobs' files are as they were)
            root["draw"] = _json_attr(job.draw.as_json())
        if job.sample_id is not None:  # (HDF5 has no null: absent, as job.json's null, when the sweep has no samples)
            root["sample_id"] = job.sample_id
        root["sweep_seed"] = job.sweep_seed
        root["seed_digest"] = job.seed_digest
        root["frames"] = job.frames
        root["roi_shape"] = np.asarray(config.camera.roi_shape, dtype=np.int64)
        root["pixel_size_nm"] = config.optics.pixel_size_nm
        root["frame_interval_ms"] = config.camera.frame_interval_ms
        root["conventions"] = CONVENTIONS
        root["software"] = _json_attr(software)

        # uncompressed: gzip halves float tables but costs ~1.5 us per row, serially at the end of
        # the run; plain (chunked) datasets are also what every HDF5 reader opens without filters
        table = f.create_dataset("emitters", data=emitters)
        _set_column_attrs(table, {**EMITTER_UNITS, **VECTORIAL_UNITS}, {**EMITTER_DESCRIPTIONS, **VECTORIAL_DESCRIPTIONS})
        table.attrs["description"] = "one row per emitter"

        # contiguous and exactly as long as the entries count (a chunked, resizable table of 65536-row
        # chunks took 3.6 MB for 501 rows); filled chunk by chunk
        total = sum(int(e["localizations"]) for e in entries)
        dtype = truth_dtype(job)
        locs = f.create_dataset("localizations", shape=(total,), dtype=dtype)
        _set_column_attrs(locs, {**LOCALIZATION_UNITS, **CRLB_UNITS}, {**LOCALIZATION_DESCRIPTIONS, **CRLB_DESCRIPTIONS})
        locs.attrs["description"] = "one row per emitter per frame in which it emits (sorted by frame, then id)"
        n = 0
        for rows in iter_truth(output, job, entries):
            if n + len(rows) > total:
                raise RuntimeError(f"job {job.name}: the ground truth has more rows than its cache entries count ({total})")
            if len(rows):
                locs[n:n + len(rows)] = rows.astype(dtype, copy=False)
                n += len(rows)
    return n


def write_csv(path: Path, output: Path, job: Job, entries: list[dict]) -> int:
    """ThunderSTORM CSV, 1-based frames; returns the number of rows.

    Concatenates the lines each chunk task formatted (``cache.csv_path``); a chunk whose lines are
    missing or do not match their entry's checksum is formatted here from its ground truth.
    """
    cache = CacheDir(output)
    n = 0
    with open(path, "wb") as f:
        f.write(CSV_HEADER.encode() + b"\n")
        for entry in entries:
            lines = cache.read_csv_lines(entry)
            if lines is None:
                lines = csv_lines(truth_rows(cache, job, entry))
            f.write(lines)
            n += lines.count(b"\n")  # what was written, checked against the entries by the caller
            del lines
    return n
