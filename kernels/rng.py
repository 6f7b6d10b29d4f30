"""Deterministic, layout-independent random streams.

Every random number in a movie comes from a stream identified by

    (sweep seed, digest of the job's physical parameters, stream name, frame or none)

and nothing else: not the chunk layout, the worker, the job's index in the sweep or the
order in which tasks run. A stream is a :class:`numpy.random.Generator` (PCG64) seeded by a
:class:`numpy.random.SeedSequence` whose entropy is a fixed-layout tuple of uint32 words, so
the same identity gives the same bytes in any process, and distinct identities give
statistically independent streams (SeedSequence's hashing guarantees this for distinct
entropy).

Examples
--------
>>> key = key_words(42, "3f2a...")                     # once per job
>>> g_emit = generator(key, "emitters")                # job-level stream
>>> g_cam = generator(key, "camera", frame=17)          # per-frame stream
"""

from __future__ import annotations

import hashlib
import struct
from typing import Sequence

import numpy as np

__all__ = ["key_words", "stream_words", "generator"]

# Domain-separation prefixes: hashing the job digest and the stream name with different
# prefixes means a stream called like a digest can never collide with it.
_JOB_DOMAIN = b"smlm-sweep/job-digest\x00"
_STREAM_DOMAIN = b"smlm-sweep/stream-name\x00"

_SEED_WORDS = 2  # sweep seed as a 64-bit unsigned integer
_DIGEST_WORDS = 8  # sha256 -> 8 uint32 words
_STREAM_WORDS = 4  # 128 bits of the stream name's sha256: collisions are not a concern
KEY_LENGTH = _SEED_WORDS + _DIGEST_WORDS


def _u32_words(data: bytes) -> tuple[int, ...]:
    """Little-endian uint32 words of ``data`` (length a multiple of 4)."""
    return struct.unpack(f"<{len(data) // 4}I", data)


def key_words(sweep_seed: int, job_digest: str) -> tuple[int, ...]:
    """Job key: the sweep seed and the job's parameter digest as uint32 words.

    Parameters
    ----------
    sweep_seed : int
        Master seed of the sweep, ``0 <= sweep_seed < 2**64``.
    job_digest : str
        Any string identifying the job's physical parameters (typically a hex digest computed
        by the pipeline). It is hashed with SHA-256 (domain-separated), so any length or
        alphabet is accepted and the key always has the same length.

    Returns
    -------
    tuple of int
        ``KEY_LENGTH`` (= 10) words: seed low, seed high, then 8 words of the digest's hash.
        Pure ``hashlib``/``struct``: independent of numpy, platform and process.
    """
    if isinstance(sweep_seed, bool) or not isinstance(sweep_seed, (int, np.integer)):
        raise TypeError(f"sweep_seed must be an int, got {type(sweep_seed).__name__}")
    seed = int(sweep_seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"sweep_seed must be in [0, 2**64), got {seed}")
    if not isinstance(job_digest, str):
        raise TypeError(f"job_digest must be a str, got {type(job_digest).__name__}")
    digest = hashlib.sha256(_JOB_DOMAIN + job_digest.encode("utf-8")).digest()
    return (seed & 0xFFFFFFFF, seed >> 32) + _u32_words(digest)


def stream_words(stream: str) -> tuple[int, ...]:
    """Stable uint32 words of a stream name (SHA-256 based; never Python's salted ``hash()``)."""
    if not isinstance(stream, str) or not stream:
        raise ValueError(f"stream must be a non-empty str, got {stream!r}")
    digest = hashlib.sha256(_STREAM_DOMAIN + stream.encode("utf-8")).digest()
    return _u32_words(digest[: 4 * _STREAM_WORDS])


def generator(key: Sequence[int], stream: str, frame: int | None = None) -> np.random.Generator:
    """Random generator of one stream.

    Parameters
    ----------
    key : sequence of int
        Job key from :func:`key_words` (uint32 words).
    stream : str
        Stream name, e.g. ``"emitters"``, ``"blinking"`` (job level) or ``"camera"`` (per frame).
    frame : int or None
        ``None`` for a job-level stream, else the 0-based frame index (``0 <= frame < 2**64``).

    Returns
    -------
    numpy.random.Generator
        PCG64 generator seeded by ``SeedSequence(key + stream words + frame marker)``.

    Notes
    -----
    The entropy suffix after the key has a fixed length (4 stream words + 3 frame words:
    ``(0, 0, 0)`` for job level, ``(1, lo, hi)`` for frame ``f``), so the tuple
    ``(key, stream, frame)`` maps injectively onto the entropy (given keys of equal length).
    """
    words = tuple(int(w) for w in key)
    if not words:
        raise ValueError("key must not be empty")
    if any(not 0 <= w < 2**32 for w in words):
        raise ValueError("key words must be uint32 values")
    if frame is None:
        marker = (0, 0, 0)
    else:
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise TypeError(f"frame must be an int or None, got {type(frame).__name__}")
        f = int(frame)
        if not 0 <= f < 2**64:
            raise ValueError(f"frame must be in [0, 2**64), got {f}")
        marker = (1, f & 0xFFFFFFFF, f >> 32)
    seq = np.random.SeedSequence(entropy=list(words + stream_words(stream) + marker))
    return np.random.Generator(np.random.PCG64(seq))
