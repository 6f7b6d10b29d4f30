"""Sweep pipeline: config, planning, dask graphs, Zarr store, cache, run, export."""
