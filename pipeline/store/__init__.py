"""Store: the sweep's Zarr v3 store (one group per job), the per-chunk cache entries, and reading it back.

Writes here are durable and atomic; an entry exists only once its chunk's bytes are in the store.
"""

from .cache import CacheDir, DamagedTruth, bytes_checksum, checksum, chunk_key, file_checksum, holds_chunk
from .chunks import stored_chunks, write_chunk
from .groups import FRAMES, consolidate, fingerprint_index, group_names, job_groups, kept_group, prepare_job, store_path
from .open import open_job, open_sweep

__all__ = ["FRAMES", "CacheDir", "DamagedTruth", "bytes_checksum", "checksum", "chunk_key", "consolidate",
           "file_checksum", "fingerprint_index", "group_names", "holds_chunk", "job_groups", "kept_group", "open_job",
           "open_sweep", "prepare_job", "store_path", "stored_chunks", "write_chunk"]
