"""Store: the sweep's Zarr v3 store (one group per job), the per-chunk cache entries, and reading it back.

Writes here are durable and atomic; an entry exists only once its chunk's bytes are in the store.
"""

from .cache import CacheDir, bytes_checksum, checksum, chunk_key
from .chunks import write_chunk
from .groups import FRAMES, consolidate, fingerprint_index, group_names, job_groups, prepare_job, store_path
from .open import open_job, open_sweep

__all__ = ["FRAMES", "CacheDir", "bytes_checksum", "checksum", "chunk_key", "consolidate", "fingerprint_index",
           "group_names", "job_groups", "open_job", "open_sweep", "prepare_job", "store_path", "write_chunk"]
