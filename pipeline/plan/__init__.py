"""Plan: a sweep file expanded into jobs — names, identity (seeds, fingerprints), sizes and memory.

Writes nothing; everything here is a pure function of the sweep file and its input files.
"""

from .identity import identity
from .jobs import Job, Plan, chunk_bounds, plan_sweep
from .memory import check_memory, check_workers, worker_memory_limit

__all__ = ["Job", "Plan", "chunk_bounds", "check_memory", "check_workers", "identity", "plan_sweep", "worker_memory_limit"]
