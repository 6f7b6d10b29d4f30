"""Run: a planned sweep on a dask.distributed cluster — preflight, chunk tasks, progress, status, lock.

:func:`run_sweep` is the whole of ``python -m pipeline run`` as a Python function.
"""

from .api import JobResult, RunResult, run_sweep
from .graph import job_array
from .lock import live_holder
from .status import read_status, status_table

__all__ = ["JobResult", "RunResult", "job_array", "live_holder", "read_status", "run_sweep", "status_table"]
