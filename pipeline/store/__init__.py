"""Store: the sweep's Zarr v3 store (one group per job), the per-chunk cache entries, and reading it back.

Writes here are durable and atomic; an entry exists only once its chunk's bytes are in the store.
"""

from .cache import CacheDir, DamagedTruth, bytes_checksum, checksum, chunk_key, file_checksum, holds_chunk, same_frames
from .chunks import stored_chunks, write_chunk
from .groups import (
    consolidate, fingerprint_index, group_names, holds_documents_of, job_groups, kept_group, prepare_job, repair_root, require_store,
    write_new_group,
)
from .metadata import FRAMES, DamagedMetadata, check_group, check_root, damaged_metadata, group_folders, store_path
from .open import open_job, open_sweep

__all__ = ["FRAMES", "CacheDir", "DamagedMetadata", "DamagedTruth", "bytes_checksum", "check_group", "check_root",
           "checksum", "chunk_key", "consolidate", "damaged_metadata", "file_checksum", "fingerprint_index",
           "group_folders", "group_names", "holds_chunk", "holds_documents_of", "job_groups", "kept_group", "open_job", "open_sweep", "prepare_job",
           "repair_root", "require_store", "same_frames", "store_path", "stored_chunks", "write_chunk", "write_new_group"]
