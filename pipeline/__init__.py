"""Synthetic SMLM movies with exact ground truth over parameter sweeps (the package's Python API).

>>> import pipeline
>>> sweep = pipeline.load_sweep("configs/sweep.toml")      # validated sweep file
>>> plan = pipeline.plan_sweep(sweep)                      # its jobs (writes nothing)
>>> result = pipeline.run_sweep(sweep, workers=2)          # run (resumes), per-job results
>>> tree = pipeline.open_sweep(result.output)              # xarray.DataTree, one node per job
>>> pipeline.verify(result.output).ok                      # re-read and check every chunk
>>> pipeline.export(result.output, force=True)             # re-write OME-TIFF and ground truth
>>> data = pipeline.FrameDataset(result.output, window=3, crop=64)   # training items, numpy out
>>> pipeline.score(result.output, "fits/{job}.csv")        # score a localizer: OUTPUT/score/score.csv

The command line (``python -m pipeline``) calls exactly these functions.
"""

__all__ = ["load_sweep", "plan_sweep", "run_sweep", "open_sweep", "open_job", "verify", "export", "job_array",
           "FrameDataset", "score",
           "RunResult", "JobResult", "VerifyResult", "UserError", "InputFileError", "RunInterrupted",
           "RunAborted"]

# name -> (module, attribute); imported on first use, so that `python -m pipeline --help` stays fast
_API = {
    "load_sweep": ("config", "load_sweep"),
    "plan_sweep": ("plan", "plan_sweep"),
    "run_sweep": ("run", "run_sweep"),
    "RunResult": ("run", "RunResult"),
    "JobResult": ("run", "JobResult"),
    "job_array": ("run", "job_array"),
    "open_sweep": ("store", "open_sweep"),
    "open_job": ("store", "open_job"),
    "verify": ("verification", "verify"),
    "VerifyResult": ("verification", "VerifyResult"),
    "export": ("exports", "export_sweep"),
    "FrameDataset": ("dataset", "FrameDataset"),
    "score": ("scoring", "score"),
    "UserError": ("errors", "UserError"),
    "InputFileError": ("errors", "InputFileError"),
    "RunInterrupted": ("errors", "RunInterrupted"),
    "RunAborted": ("errors", "RunAborted"),
}


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    import importlib

    module, attribute = _API[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)


def __dir__():
    return sorted(list(globals()) + __all__)
