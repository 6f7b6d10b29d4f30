"""Job names: ``job_{index:04d}_{key}_{value}_...`` (+ sample suffix), always a safe file name (design §3)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ..config import PATH_KEYS

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
#: a job name becomes a folder name (and ``<name>~<fingerprint[:8]>-<n>`` when a group is moved
#: aside); file systems allow 255 bytes per name
MAX_NAME_BYTES = 255 - len("~12345678-99")


def _value_label(dotted: str, value: Any) -> str:
    if dotted in PATH_KEYS and isinstance(value, str):
        value = Path(value).stem if value else "none"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        value = "-".join(f"{k}-{v}" for k, v in value.items())
    label = _SAFE.sub("-", str(value)).strip("-.")
    return label or "x"


def _labels(varied: dict[str, Any], sample_suffix: str | None) -> list[str]:
    """``{key}_{value}`` of each varied path (its last segment unless two share it), then the sample suffix."""
    parts = []
    lasts = [d.rsplit(".", 1)[-1] for d in varied]
    for dotted, value in varied.items():
        key = dotted.rsplit(".", 1)[-1] if lasts.count(dotted.rsplit(".", 1)[-1]) == 1 else dotted.replace(".", "_")
        parts.append(f"{key}_{_value_label(dotted, value)}")
    if sample_suffix:
        parts.append(_SAFE.sub("-", sample_suffix).strip("-."))
    return parts


def job_name(index: int, varied: dict[str, Any], sample_suffix: str | None) -> str:
    """``job_{index:04d}_{key}_{value}_...`` (+ sample suffix); the key is the dotted path's last
    segment unless two varied paths share it."""
    return "_".join([f"job_{index:04d}", *_labels(varied, sample_suffix)])


def random_job_name(index: int, draw: int, drawn: dict[str, Any], varied: dict[str, Any],
                    sample_suffix: str | None) -> str:
    """``job_{index:04d}_r{draw:04d}-{hash}``, then the grid's ``{key}_{value}`` and the sample suffix.

    A draw's values are long floats: the name carries a short hash of them (6 hex digits of the
    SHA-256 of their canonical JSON); the values themselves are in job.json and in the group's
    attributes (``varied``). ``varied`` holds the grid's values only.
    """
    digest = hashlib.sha256(json.dumps(drawn, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    return "_".join([f"job_{index:04d}_r{draw:04d}-{digest[:6]}", *_labels(varied, sample_suffix)])


def check_name_length(name: str, file: str) -> None:
    """Refuse a job name that the file system could not hold (before anything is written)."""
    from ..errors import UserError

    if len(name.encode()) > MAX_NAME_BYTES:
        raise UserError(f"{file}: job name '{name[:60]}...' is {len(name.encode())} bytes long; file names allow "
                        f"{MAX_NAME_BYTES} here: shorten samples.naming or the varied values")
