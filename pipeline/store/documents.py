"""The ``zarr.json`` documents of the arrays this store creates, and the frames' chunk codec, without zarr.

zarr costs 0.3–0.5 s of CPU to import, on the path to a run's first chunk twice over: in the run
process, which prepares the groups, and in the workers, which write new groups and chunks. Opening
an array through it costs ~1 ms more per chunk. The documents here are the ones zarr 3 writes for
the arrays of :mod:`.groups` (same keys, same order, same indentation: tested byte for byte
against zarr), and :func:`frames_layout` reads a frames document as far as :mod:`.chunks` needs.
Anything else — a layout these functions do not know, a coordinate too long for one chunk —
returns None here and goes through zarr itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

#: the frames' Blosc: LZ4 with byte shuffle at level 1 (why: :data:`.groups.CODEC`, made from this)
BLOSC = {"typesize": 2, "cname": "lz4", "clevel": 1, "shuffle": "shuffle", "blocksize": 0}
_BYTES = {"name": "bytes", "configuration": {"endian": "little"}}
#: the index of a shard as zarr's sharding codec writes it by default
_SHARD_INDEX = [_BYTES, {"name": "crc32c"}]
#: zarr's default compressor of a numeric array (the coordinates)
_ZSTD = {"name": "zstd", "configuration": {"level": 0, "checksum": False}}
#: a 1-d float64 array up to this length is one chunk by zarr's chunk guess (it halves an array only
#: above 1.5 × its 128 KiB minimum target: 24 576 values; tested at this bound)
_ONE_CHUNK_VALUES = 16384


def encode(document: dict) -> bytes:
    """A document as zarr writes it (``json_indent`` 2, its default)."""
    return json.dumps(document, allow_nan=True, indent=2).encode()


def _fill(dtype: np.dtype):
    return 0.0 if dtype.kind == "f" else 0


def _array(shape, dtype: np.dtype, grid_chunks, codecs: list, attributes: dict, dimensions) -> dict:
    return {
        "shape": list(shape), "data_type": dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(grid_chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": _fill(dtype), "codecs": codecs, "attributes": attributes,
        "dimension_names": list(dimensions), "zarr_format": 3, "node_type": "array", "storage_transformers": [],
    }


def frames_document(shape: tuple[int, int, int], dtype, chunk_frames: int, shard_frames: int | None,
                    attributes: dict) -> dict:
    """The frames array: chunks of whole frames, Blosc; in shards of ``shard_frames`` frames if given."""
    chunks = (chunk_frames, *shape[1:])
    codecs = [_BYTES, {"name": "blosc", "configuration": dict(BLOSC)}]
    if shard_frames:
        sharding = {"chunk_shape": list(chunks), "codecs": codecs, "index_codecs": _SHARD_INDEX, "index_location": "end"}
        return _array(shape, np.dtype(dtype), (shard_frames, *shape[1:]), [{"name": "sharding_indexed",
                      "configuration": sharding}], attributes, ("t", "y", "x"))
    return _array(shape, np.dtype(dtype), chunks, codecs, attributes, ("t", "y", "x"))


def coordinate_files(values: np.ndarray, dimensions: tuple[str, ...], attributes: dict) -> dict[str, bytes] | None:
    """A 1-d array written from its values as zarr's ``create_array(data=...)`` does: path inside the
    array → bytes (``zarr.json``, and its one chunk ``c/0`` unless all zeros: zarr leaves out a chunk
    of fill values). None when zarr would split it into several chunks."""
    values = np.asarray(values)
    if values.ndim != 1 or values.dtype != np.float64 or not 0 < len(values) <= _ONE_CHUNK_VALUES:
        return None
    from numcodecs.zstd import Zstd

    files = {"zarr.json": encode(_array(values.shape, values.dtype, values.shape, [_BYTES, _ZSTD], attributes,
                                        dimensions))}
    if values.any():
        files["c/0"] = Zstd(level=0, checksum=False).encode(values.astype("<f8").tobytes())
    return files


@dataclass(frozen=True)
class FramesLayout:
    """What writing a frames chunk (or shard) needs to know of the array: from its ``zarr.json``."""

    shape: tuple[int, ...]
    dtype: np.dtype
    chunk_frames: int
    shard_frames: int  # 0: not sharded
    fill_value: int | float
    blosc: object  # numcodecs.Blosc encoding one (inner) chunk exactly as zarr does

    def key(self, index: int) -> str:
        """The file of chunk (or shard) ``index`` along t, inside the array's folder."""
        return f"c/{index}/0/0"


def frames_layout(document: dict | None) -> FramesLayout | None:
    """The layout of a frames document written as :func:`frames_document` writes them (any Blosc
    settings), or None for anything else."""
    try:
        shape = tuple(document["shape"])
        grid = document["chunk_grid"]
        if (len(shape) != 3 or grid["name"] != "regular" or document["chunk_key_encoding"] != {
                "name": "default", "configuration": {"separator": "/"}} or document.get("storage_transformers")):
            return None
        outer = tuple(grid["configuration"]["chunk_shape"])
        codecs, shard_frames = document["codecs"], 0
        if len(codecs) == 1 and codecs[0]["name"] == "sharding_indexed":
            sharding = codecs[0]["configuration"]
            if sharding["index_codecs"] != _SHARD_INDEX or sharding["index_location"] != "end":
                return None
            codecs, inner, shard_frames = sharding["codecs"], tuple(sharding["chunk_shape"]), outer[0]
        else:
            inner = outer
        blosc = _blosc(codecs)
        dtype = np.dtype(document["data_type"])
        fill = document["fill_value"]
        if (blosc is None or inner[1:] != shape[1:] or outer[1:] != shape[1:] or dtype.kind not in "uif"
                or not isinstance(fill, (int, float)) or isinstance(fill, bool)
                or (shard_frames and shard_frames % inner[0])):
            return None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return FramesLayout(shape, dtype, inner[0], shard_frames, dtype.type(fill), blosc)


def _blosc(codecs: list):
    if len(codecs) != 2 or codecs[0] != _BYTES or codecs[1].get("name") != "blosc":
        return None
    from numcodecs import Blosc, blosc

    # as zarr sets it when imported (blosc's global context is not thread-safe): one thread per
    # chunk task, never blosc's own pool; the bytes are the same either way
    blosc.use_threads = False
    config = codecs[1]["configuration"]
    shuffle = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}[config["shuffle"]]
    return Blosc(cname=config["cname"], clevel=config["clevel"], shuffle=shuffle, blocksize=config["blocksize"],
                 typesize=config["typesize"])
