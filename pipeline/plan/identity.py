"""Job identity (design §3): the seed digest keys every random stream, the fingerprint names the bytes.

The *seed digest* hashes the physical parameters (input files by content) and the sample id; the
*fingerprint* adds the numerical render settings, the sweep seed and the versions that decide the
random streams. Neither depends on the job's position in the sweep or on ``chunk_frames``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

import kernels

from ..config import PATH_KEYS, JobConfig


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _digest(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def _input_digests(config: JobConfig) -> tuple[dict[str, str], list[str]]:
    """Content hashes of the job's input files (so that moving a file keeps the fingerprint)."""
    from ..inputs import file_digest

    digests, missing = {}, []
    for dotted in PATH_KEYS:
        section, key = dotted.split(".")
        path = getattr(getattr(config, section), key)
        if path:
            if Path(path).is_file():
                digests[dotted] = file_digest(path)
            else:
                digests[dotted] = f"missing:{path}"  # plan before inputs exist: still distinct jobs
                missing.append(path)
    return digests, missing


def _without_added_defaults(tree: dict, model) -> dict:
    """``tree`` (a section's dump) without the added fields that are at their default."""
    rules = _field_rules(model)
    out = {}
    for name, value in tree.items():
        sub, added, default = rules.get(name, (None, False, None))
        if sub is not None and isinstance(value, dict):
            value = _without_added_defaults(value, sub)
            if added and not value:  # an added section with every key at its default
                continue
        elif added and value == default:
            continue
        out[name] = value
    return out


@functools.lru_cache(maxsize=None)
def _field_rules(model) -> dict[str, tuple[Any, bool, Any]]:
    """Per field of ``model``: (its sub-model or None, whether it was added, its default as JSON if added).

    Computed once per model: building the type adapters per job cost ~1 ms a job.
    """
    rules = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        added = bool(extra.get("added"))
        rules[name] = (_model_of_field(info), added, _json_default(info) if added else None)
    return rules


def _model_of_field(info):
    from ..config.reference import model_of

    return model_of(info.annotation)


def _json_default(info):
    import pydantic

    return pydantic.TypeAdapter(info.annotation).dump_python(info.get_default(call_default_factory=True), mode="json")


def physical_parameters(config: JobConfig, digests: dict[str, str]) -> dict:
    """Everything physical about a job, canonical: input files by content, ROI as [height, width]."""
    tree = _without_added_defaults(config.model_dump(mode="json", exclude={"render"}), JobConfig)
    for dotted, digest in digests.items():
        section, key = dotted.split(".")
        tree[section][key] = digest
    tree["camera"]["roi"] = list(config.camera.roi_shape)
    tree["camera"].pop("roi_size")
    return tree


def revisions_of(config: JobConfig) -> dict[str, str]:
    """The entries of ``kernels.REVISIONS`` whose feature the job uses."""
    uses = {f"psf:{config.optics.psf}": True,
            "crlb:varying-background": config.render.crlb and (config.background.bleach_tau_frames is not None
                                                                or config.background.fluctuation > 0)}
    return {name: rev for name, rev in kernels.REVISIONS.items() if uses.get(name)}


def identity(config: JobConfig, sample_id: int | None, sweep_seed: int,
             draw: int | None = None) -> tuple[str, str, list[str]]:
    """(seed digest, fingerprint, missing input files) of a job.

    ``draw`` is the job's draw index in a ``[random]`` design: like a sample id it makes two draws
    that happen to have equal values two realizations, not one simulation. Jobs without a draw
    hash exactly what they hashed before designs existed.
    """
    digests, missing = _input_digests(config)
    physics = physical_parameters(config, digests)
    seeded = {"physics": physics, "sample_id": sample_id}
    if draw is not None:
        seeded["draw"] = draw
    seed_digest = _digest(seeded)
    # chunk_frames and shard_frames change only the layout, never the bytes (design §3): not part of identity
    numerics = _without_added_defaults(config.render.model_dump(mode="json", exclude={"chunk_frames", "shard_frames"}),
                                       type(config.render))
    named = {"seed_digest": seed_digest, "render": numerics, "sweep_seed": sweep_seed, "kernels": kernels.__version__,
             # numpy's generators may change their streams between feature releases
             "numpy": ".".join(np.__version__.split(".")[:2])}
    revisions = revisions_of(config)
    if revisions:  # (absent for jobs that use no revised feature: their fingerprints stay)
        named["revisions"] = revisions
    fingerprint = _digest(named)
    return seed_digest[:32], fingerprint[:32], missing
