"""Determinism and independence of the random streams (kernels.rng)."""

import hashlib
import struct
import subprocess
import sys

import numpy as np
import pytest

from kernels.rng import KEY_LENGTH, generator, key_words, stream_words

DIGEST = hashlib.sha256(b"some job parameters").hexdigest()


def _bytes(key, stream, frame=None, n=64):
    return generator(key, stream, frame).random(n).tobytes()


def test_key_words_definition_and_stability():
    # the documented definition, recomputed independently of the implementation
    seed = 2**40 + 7
    h = hashlib.sha256(b"smlm-sweep/job-digest\x00" + DIGEST.encode()).digest()
    expected = (seed & 0xFFFFFFFF, seed >> 32) + struct.unpack("<8I", h)
    assert key_words(seed, DIGEST) == expected
    assert len(expected) == KEY_LENGTH
    assert all(0 <= w < 2**32 for w in expected)
    assert key_words(seed, DIGEST) == key_words(np.int64(seed), DIGEST)


def test_key_words_distinct_and_validated():
    assert key_words(1, DIGEST) != key_words(2, DIGEST)
    assert key_words(1, DIGEST) != key_words(1, DIGEST[:-1] + "0")
    # seed words cannot alias: 2**32 is not (0, 1) mixed with another digest
    assert key_words(2**32, DIGEST)[:2] == (0, 1)
    for bad in (-1, 2**64):
        with pytest.raises(ValueError):
            key_words(bad, DIGEST)
    with pytest.raises(TypeError):
        key_words(1.5, DIGEST)


def test_same_inputs_same_bytes():
    key = key_words(42, DIGEST)
    assert _bytes(key, "camera", 3) == _bytes(list(key), "camera", 3)
    assert _bytes(key, "emitters") == _bytes(key, "emitters")
    # python's salted hash() must not be involved
    assert stream_words("camera") == struct.unpack(
        "<4I", hashlib.sha256(b"smlm-sweep/stream-name\x00camera").digest()[:16]
    )


def test_identical_bytes_in_another_process():
    key = key_words(42, DIGEST)
    code = (
        "import sys; from kernels.rng import generator, key_words;"
        f"k = key_words(42, {DIGEST!r});"
        "sys.stdout.write(generator(k, 'camera', 5).random(64).tobytes().hex() + ' ' +"
        "generator(k, 'blinking').random(64).tobytes().hex())"
    )
    # PYTHONHASHSEED differs per process by default; force a different one to be explicit
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout.split()
    assert bytes.fromhex(out[0]) == _bytes(key, "camera", 5)
    assert bytes.fromhex(out[1]) == _bytes(key, "blinking")


def test_distinct_identities_distinct_streams():
    key = key_words(42, DIGEST)
    variants = {
        "frame0": _bytes(key, "camera", 0),
        "frame1": _bytes(key, "camera", 1),
        "frame_big": _bytes(key, "camera", 2**32),  # high word of the frame matters
        "joblevel": _bytes(key, "camera"),
        "stream": _bytes(key, "emitters", 0),
        "seed": _bytes(key_words(43, DIGEST), "camera", 0),
        "digest": _bytes(key_words(42, DIGEST[::-1]), "camera", 0),
    }
    assert len(set(variants.values())) == len(variants)


def test_streams_uncorrelated():
    # adjacent frames must not be shifted/correlated copies: |r| < 5 standard errors (1/sqrt(n))
    key = key_words(0, DIGEST)
    n = 20000
    a = generator(key, "camera", 0).standard_normal(n)
    b = generator(key, "camera", 1).standard_normal(n)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)


def test_frame_validation():
    key = key_words(0, DIGEST)
    with pytest.raises(ValueError):
        generator(key, "camera", -1)
    with pytest.raises(ValueError):
        generator(key, "")
    with pytest.raises(ValueError):
        generator((2**32,), "camera")
