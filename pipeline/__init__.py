"""Sweep pipeline: config, planning, dask graphs, Zarr store, cache, run, export.

Public API: :func:`open_sweep` (the results as an xarray DataTree or stacked DataArray),
:func:`open_job`, :func:`load_sweep`, :func:`plan_sweep`, :func:`job_array`.
"""

__all__ = ["open_sweep", "open_job", "load_sweep", "plan_sweep", "job_array"]


def __getattr__(name):  # lazy: keep `python -m pipeline --help` fast
    if name in ("open_sweep", "open_job"):
        from . import open as _open

        return getattr(_open, name)
    if name == "load_sweep":
        from .config import load_sweep

        return load_sweep
    if name == "plan_sweep":
        from .plan import plan_sweep

        return plan_sweep
    if name == "job_array":
        from .graph import job_array

        return job_array
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
