"""Open a sweep's results with xarray: a DataTree of jobs, one stacked DataArray (a grid), or a Dataset indexed by job (a random design)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import read_json
from ..config.reference import unit_of
from .groups import job_groups
from .metadata import FRAMES, damaged_metadata, store_path

if TYPE_CHECKING:
    import xarray as xr
    import zarr


def open_job(output: str | Path, job: str) -> xr.Dataset:
    """One job's Dataset (lazy): ``frames`` (t, y, x) with coordinates and attributes."""
    # (imported here: workers import this package for its writers, never xarray)
    import xarray as xr

    return xr.open_zarr(store_path(Path(output)), group=job)


def open_sweep(output: str | Path, stack: bool | None = None) -> xr.DataTree | xr.DataArray | xr.Dataset:
    """The whole sweep, lazily: the jobs of the sweep last run into ``output`` (groups of earlier
    versions of the sweep, which ``status`` lists as stale, stay in the store for :func:`open_job`).

    Parameters
    ----------
    output
        The sweep's output folder (the one holding ``sweep.zarr``).
    stack
        False: an :class:`xarray.DataTree` with one node per job. True: a grid sweep gives one
        ``frames`` DataArray with the varied parameters (last path segment, e.g. ``num_emitters``)
        and ``sample`` as extra leading dimensions; a ``[random]`` design, which is no grid, gives
        a Dataset indexed by job (:func:`_table`). Both need every job to have the same shape.
        None (default): False for a grid sweep; for a random design the Dataset, or the DataTree
        (with a warning) when the jobs' shapes differ.
    """
    # (imported here: workers import this package for its writers, never xarray)
    import xarray as xr

    output = Path(output)
    if not store_path(output).exists():
        raise FileNotFoundError(f"no sweep.zarr in {output}")
    for damage in damaged_metadata(output):  # such a group is left out, not silently
        warnings.warn(f"open_sweep: {damage}{'; that job is left out' if damage.group else ''}", stacklevel=2)
    stale = _stale(output)
    groups = {name: group for name, group in job_groups(output).items() if name not in stale}
    drawn = any(group.attrs.get("draw") for group in groups.values())
    if drawn and stack is not False:
        if stack or len({group[FRAMES].shape for group in groups.values()}) == 1:
            return _table(output, groups)
        warnings.warn("open_sweep: the jobs of this random design have different shapes: one node per job "
                      "(a DataTree) instead of one Dataset indexed by job", stacklevel=2)
    jobs = {name: open_job(output, name) for name in groups}
    if not stack:
        return xr.DataTree.from_dict({f"/{name}": ds for name, ds in jobs.items()})
    return _stack(jobs)


def _stale(output: Path) -> set[str]:
    """Groups the last run found in the store but not in its sweep (status.json's ``stale``): jobs
    of earlier versions of the sweep, kept for reuse, which are not part of the sweep now."""
    status = read_json(output / "status.json")
    stale = status.get("stale") if isinstance(status, dict) else None
    return {name for name in stale if isinstance(name, str)} if isinstance(stale, list) else set()


#: names the table has already: a parameter ending so (``emitters.frames``) keeps its whole path
_TAKEN = ("job", "draw", "sample", FRAMES, "t", "y", "x")


def _coordinate_names(paths: list[str]) -> dict[str, str]:
    """Dotted path -> coordinate name: its last segment, or the whole path with "_" when two share
    it or the table has the name already."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: (name if last.count(name) == 1 and name not in _TAKEN else p.replace(".", "_"))
            for p, name in zip(paths, last)}


def _same_shapes(shapes: dict[str, tuple]) -> None:
    if len(set(shapes.values())) > 1:
        detail = ", ".join(f"{n} {s}" for n, s in list(shapes.items())[:4])
        raise ValueError(f"cannot stack jobs of different shapes ({detail}); open them one by one with open_sweep(output)")


def _table(output: Path, groups: dict[str, zarr.Group]) -> xr.Dataset:
    """A random design as a table: ``frames`` (job, t, y, x) with one coordinate on ``job`` per parameter.

    Coordinates: ``job`` (the names), ``draw`` (the draw index), every drawn and varied parameter
    (attrs ``parameter``, ``units``, ``role`` = "drawn" or "varied") and ``sample`` with [samples].
    Built from the groups' arrays and attributes (xarray opens the first job only, for t, y, x):
    opening every job as a Dataset would cost ~30 ms a job, minutes for a training-set design.
    """
    # (imported here: workers import this package for its writers, never xarray)
    import xarray as xr
    import dask.array as da

    _same_shapes({name: group[FRAMES].shape for name, group in groups.items()})
    attrs = [dict(group.attrs) for group in groups.values()]
    design = next(a["draw"] for a in attrs if a.get("draw"))
    paths: list[str] = []
    for a in attrs:
        paths += [p for p in (a.get("varied") or {}) if p not in paths]
    names = _coordinate_names(paths)
    first = open_job(output, next(iter(groups)))[FRAMES]
    stacked = da.stack([da.from_zarr(group[FRAMES]) for group in groups.values()])
    coords = {dim: first[dim] for dim in first.dims}
    coords.update({"job": ("job", list(groups)),
                   "draw": ("job", [(a.get("draw") or {}).get("index", -1) for a in attrs])})
    coords.update({names[p]: ("job", [(a.get("varied") or {}).get(p) for a in attrs]) for p in paths})
    if any(a.get("sample_id") is not None for a in attrs):
        coords["sample"] = ("job", [a.get("sample_id") for a in attrs])
    frames = xr.DataArray(stacked, dims=("job", *first.dims), coords=coords,
                          attrs={"units": first.attrs.get("units", "ADU")})
    table = xr.Dataset({FRAMES: frames})
    table["draw"].attrs = {"parameter": "draw index of the random design"}
    for path, name in names.items():
        table[name].attrs = {"parameter": path, "units": unit_of(path),
                             "role": "drawn" if path in design["keys"] else "varied"}
    if "sample" in table.coords:
        table["sample"].attrs = {"parameter": "sample id"}
    table.attrs = {"design": {"method": design["method"], "n": design["n"]}, "drawn": list(design["keys"]),
                   "varied": paths}
    return table


def _stack(jobs: dict[str, xr.Dataset]) -> xr.DataArray:
    # (imported here: workers import this package for its writers, never xarray)
    import xarray as xr

    _same_shapes({name: ds[FRAMES].shape for name, ds in jobs.items()})
    dims: dict[str, str] = {}
    labels = []
    for ds in jobs.values():
        varied = dict(ds.attrs.get("varied") or {})
        if ds.attrs.get("sample_id") is not None:
            varied["sample"] = ds.attrs["sample_id"]
        for path in varied:
            dims.setdefault(path, path.rsplit(".", 1)[-1])
        labels.append(varied)
    if not dims:
        raise ValueError("the sweep varies nothing: nothing to stack (open_sweep(output) gives the single job)")
    first = next(iter(jobs.values()))[FRAMES]
    stacked = xr.concat([ds[FRAMES].drop_attrs() for ds in jobs.values()], dim="job", coords="minimal",
                        compat="override", join="override")
    stacked = stacked.assign_coords(job=list(jobs))
    for path, dim in dims.items():
        stacked = stacked.assign_coords({dim: ("job", [lab.get(path) for lab in labels])})
    if len(dims) == 1:  # a single varied key: a plain index, nothing to unstack
        stacked = stacked.swap_dims(job=next(iter(dims.values()))).drop_vars("job")
    else:
        stacked = stacked.set_index(job=list(dims.values())).unstack("job")
    stacked = stacked.transpose(*dims.values(), *first.dims)
    stacked.attrs = {"units": first.attrs.get("units", "ADU"), "varied": list(dims)}
    for dim in first.dims:  # (concat and unstack drop the coordinates' attributes)
        stacked[dim].attrs = dict(first[dim].attrs)
    for path, dim in dims.items():
        stacked[dim].attrs = {"parameter": path, "units": unit_of(path)} if path != "sample" else {"parameter": "sample id"}
    return stacked.rename(FRAMES)
