"""Open a sweep's results with xarray: a DataTree of jobs, or one stacked DataArray."""

from __future__ import annotations

import warnings
from pathlib import Path

import xarray as xr

from ..config.reference import unit_of
from .groups import job_groups
from .metadata import FRAMES, damaged_metadata, store_path


def open_job(output: str | Path, job: str) -> xr.Dataset:
    """One job's Dataset (lazy): ``frames`` (t, y, x) with coordinates and attributes."""
    return xr.open_zarr(store_path(Path(output)), group=job)


def open_sweep(output: str | Path, stack: bool = False) -> xr.DataTree | xr.DataArray:
    """The whole sweep, lazily.

    Parameters
    ----------
    output
        The sweep's output folder (the one holding ``sweep.zarr``).
    stack
        False: an :class:`xarray.DataTree` with one node per job. True: one ``frames``
        DataArray with the varied parameters (last path segment, e.g. ``num_emitters``) and
        ``sample`` as extra leading dimensions; needs every job to have the same shape.
    """
    output = Path(output)
    if not store_path(output).exists():
        raise FileNotFoundError(f"no sweep.zarr in {output}")
    for damage in damaged_metadata(output):  # such a group is left out, not silently
        warnings.warn(f"open_sweep: {damage}{'; that job is left out' if damage.group else ''}", stacklevel=2)
    jobs = {name: open_job(output, name) for name in job_groups(output)}
    if not stack:
        return xr.DataTree.from_dict({f"/{name}": ds for name, ds in jobs.items()})
    return _stack(jobs)


def _stack(jobs: dict[str, xr.Dataset]) -> xr.DataArray:
    shapes = {name: ds[FRAMES].shape for name, ds in jobs.items()}
    if len(set(shapes.values())) > 1:
        detail = ", ".join(f"{n} {s}" for n, s in list(shapes.items())[:4])
        raise ValueError(f"cannot stack jobs of different shapes ({detail}); open them one by one with open_sweep(output)")
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
