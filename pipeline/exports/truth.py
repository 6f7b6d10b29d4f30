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
    "structure_id": "index (0-based; = sites.structure_id; -1: none)",
    "site_id": "index (0-based; = sites.site_id; -1: none)",
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
    "structure_id": "the copy of the structure (grid, pore, filament) this fluorophore labels; -1 without a structure",
    "site_id": "the site (row of the table sites) this fluorophore labels; -1 without a structure",
}
SITE_UNITS = {"structure_id": "index (0-based)", "site_id": "index (0-based; = emitters.site_id)",
              "x_nm": "nm", "y_nm": "nm", "z_nm": "nm"}
SITE_DESCRIPTIONS = {
    "structure_id": "the copy of the structure the site belongs to (-1: density sites)",
    "site_id": "site index",
    "x_nm": "x of the site (a fluorophore sits at its site plus the linkage error)",
    "y_nm": "y of the site", "z_nm": "z of the site",
}
DRIFT_UNITS = {"frame": "frame (0-based)", "x_nm": "nm", "y_nm": "nm", "z_nm": "nm"}
DRIFT_DESCRIPTIONS = {
    "frame": "frame index",
    "x_nm": "stage drift in x in this frame: localizations.x_nm = emitters.x_nm + drift.x_nm",
    "y_nm": "stage drift in y in this frame", "z_nm": "stage drift in z in this frame",
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


ILLUMINATION_UNITS = {"illumination": "1 (the profile's peak = 1)"}
ILLUMINATION_DESCRIPTIONS = {"illumination": "relative excitation intensity at the emitter (illumination.profile); "
                                             "flux_photons include it"}


def extra_columns(job: Job, sample) -> dict[str, np.ndarray]:
    """The emitter table's columns beyond the standard ones: a vectorial job's, and the illumination."""
    columns = vectorial_columns(job, sample)
    if sample.illumination is not None:
        columns["illumination"] = sample.illumination
    return columns


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


_EMITTER_DTYPE = [("id", "<i8"), ("x_nm", "<f8"), ("y_nm", "<f8"), ("z_nm", "<f8"), ("flux_photons", "<f8"),
                  ("t_on", "<f8"), ("t_off", "<f8"), ("total_photons", "<f8"), ("structure_id", "<i8"),
                  ("site_id", "<i8")]


#: rows of the ``emitters`` table built at a time (written block by block: ~6 MB, not the whole table)
EMITTER_BLOCK = 1 << 16


def emitter_columns(emitters: Emitters, events: Events, frames: int, extra: dict[str, np.ndarray] | None = None,
                    labels=None) -> tuple[np.dtype, dict[str, np.ndarray | int]]:
    """The ``emitters`` table (design §6) as columns: its dtype, and each column's values per emitter
    (the emitters' own arrays where they are columns already; a constant where it is one)."""
    extra = extra or {}
    dtype = np.dtype(_EMITTER_DTYPE + [(name, "<f8") for name in extra])
    # first on and last off of each emitter (one event each for "single" blinking)
    t_on = np.full(len(emitters), np.inf)
    t_off = np.full(len(emitters), -np.inf)
    np.minimum.at(t_on, events.emitter, events.t_on)
    np.maximum.at(t_off, events.emitter, events.t_off)
    never = ~np.isfinite(t_on)
    t_on[never] = np.nan
    t_off[never] = np.nan
    columns = {"x_nm": emitters.x_nm, "y_nm": emitters.y_nm, "z_nm": emitters.z_nm,
               "flux_photons": emitters.flux_photons, "t_on": t_on, "t_off": t_off,
               "total_photons": total_photons(events, emitters.flux_photons, frames),
               "structure_id": -1 if labels is None else labels.structure_id,
               "site_id": -1 if labels is None else labels.site_id, **extra}
    return dtype, columns


def emitter_rows(dtype: np.dtype, columns: dict, a: int, b: int) -> np.ndarray:
    """Rows ``a:b`` of the ``emitters`` table of :func:`emitter_columns`."""
    rows = np.zeros(b - a, dtype=dtype)
    rows["id"] = np.arange(a, b)
    for name, values in columns.items():
        rows[name] = values[a:b] if isinstance(values, np.ndarray) else values
    return rows


def emitter_table(emitters: Emitters, events: Events, frames: int, extra: dict[str, np.ndarray] | None = None,
                  labels=None) -> np.ndarray:
    """Ground-truth table ``emitters`` (design §6): one row per emitter (and ``extra`` columns), whole."""
    return emitter_rows(*emitter_columns(emitters, events, frames, extra, labels), 0, len(emitters))


def source_emitter_table(source, chunk_frames: int) -> np.ndarray:
    """The ``emitters`` table of a re-rendered ground truth, from its rows (streamed, one chunk at a time):
    one row per id, at its first row's position, on from its first frame to the end of its last,
    with the photons of all its rows; its brightness while fully on is not known (NaN)."""
    first = {name: np.zeros(0) for name in ("x_nm", "y_nm", "z_nm", "t_on", "t_off", "total_photons")}
    seen = np.zeros(0, dtype=bool)
    for t0 in range(0, source.frames, chunk_frames):
        rows = source(t0, t0 + chunk_frames)
        if not len(rows):
            continue
        ids = rows["id"]
        if ids.max() >= len(seen):  # ids index the table: grow it
            grow = int(ids.max()) + 1 - len(seen)
            seen = np.pad(seen, (0, grow))
            first = {name: np.pad(values, (0, grow)) for name, values in first.items()}
        new, where = np.unique(ids, return_index=True)
        fresh = ~seen[new]
        for name in ("x_nm", "y_nm", "z_nm"):
            first[name][new[fresh]] = rows[name][where[fresh]]
        first["t_on"][new[fresh]] = rows["frame"][where[fresh]]
        seen[new] = True
        np.maximum.at(first["t_off"], ids, rows["frame"] + 1.0)
        np.add.at(first["total_photons"], ids, rows["photons"])
    ids = np.flatnonzero(seen)
    table = np.zeros(len(ids), dtype=_EMITTER_DTYPE)
    table["id"] = ids
    for name, values in first.items():
        table[name] = values[ids]
    table["flux_photons"] = np.nan
    table["structure_id"] = table["site_id"] = -1
    return table


def site_table(sites) -> np.ndarray:
    """Ground-truth table ``sites``: every site of the structure, labelled or not."""
    table = np.zeros(len(sites), dtype=[("structure_id", "<i8"), ("site_id", "<i8"), ("x_nm", "<f8"),
                                        ("y_nm", "<f8"), ("z_nm", "<f8")])
    table["structure_id"], table["site_id"] = sites.structure_id, sites.site_id
    table["x_nm"], table["y_nm"], table["z_nm"] = sites.x_nm, sites.y_nm, sites.z_nm
    return table


def drift_rows(drift_nm: np.ndarray) -> np.ndarray:
    """Ground-truth table ``drift``: one row per frame."""
    table = np.zeros(len(drift_nm), dtype=[("frame", "<i8"), ("x_nm", "<f8"), ("y_nm", "<f8"), ("z_nm", "<f8")])
    table["frame"] = np.arange(len(drift_nm))
    table["x_nm"], table["y_nm"], table["z_nm"] = drift_nm.T
    return table


def rewrite_draw(source: Path, path: Path, job: Job) -> None:
    """Copy ``source`` (a job's emitters.h5) to ``path`` with the root attribute ``draw`` of ``job``
    (a random design that grew: the same job, another design size)."""
    import shutil

    import h5py

    shutil.copyfile(source, path)
    with h5py.File(path, "r+") as f:
        f.attrs["draw"] = _json_attr(job.draw.as_json())


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
    if sample.source is not None:
        emitters = source_emitter_table(sample.source, job.chunk_frames)
        dtype, columns, count = emitters.dtype, None, len(emitters)
    else:
        dtype, columns = emitter_columns(sample.emitters, sample.events, job.frames, extra_columns(job, sample),
                                         sample.labels)
        count = len(sample.emitters)
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
        if columns is None:
            table = f.create_dataset("emitters", data=emitters)
        else:  # block by block: the whole table would be a second copy of the sample (~90 bytes per emitter)
            table = f.create_dataset("emitters", shape=(count,), dtype=dtype)
            for a in range(0, count, EMITTER_BLOCK):
                b = min(a + EMITTER_BLOCK, count)
                table[a:b] = emitter_rows(dtype, columns, a, b)
        _set_column_attrs(table, {**EMITTER_UNITS, **VECTORIAL_UNITS, **ILLUMINATION_UNITS},
                          {**EMITTER_DESCRIPTIONS, **VECTORIAL_DESCRIPTIONS, **ILLUMINATION_DESCRIPTIONS})
        table.attrs["description"] = ("one row per emitter (re-rendered: one per id of the source, at its first "
                                      "localization)" if sample.source is not None else "one row per emitter")
        if sample.sites is not None:
            sites = f.create_dataset("sites", data=site_table(sample.sites))
            _set_column_attrs(sites, SITE_UNITS, SITE_DESCRIPTIONS)
            sites.attrs["description"] = "one row per site of the structure (emitters.site_id refers to it)"
        if sample.drift_nm is not None:
            drift = f.create_dataset("drift", data=drift_rows(sample.drift_nm))
            _set_column_attrs(drift, DRIFT_UNITS, DRIFT_DESCRIPTIONS)
            drift.attrs["description"] = "stage drift of every frame (localizations are drifted, emitters are not)"

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
