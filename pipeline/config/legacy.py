"""Translate the original tool's JSON batch files to the sweep-file layout (design §2)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import UserError, did_you_mean

# legacy dotted path -> path in the sweep file; None = accepted and ignored
_BASE_KEYS: dict[str, str | None] = {
    "zmap_path": "base.optics.zmap_path",
    "emitters.seed": "sweep.seed",
    "emitters.no_plot": None,
    "tiff.roi_size": "base.camera.roi_size",
    "tiff.use_direct_rendering": "base.render.mode",
    "tiff.add_noise": "base.camera.add_noise",
    "tiff.noise_params.background": "base.camera.background",
    "tiff.noise_params.readout_noise": "base.camera.readout_noise",
    "tiff.noise_params.shot_noise": "base.camera.shot_noise",
    "memory_optimization.chunk_size": "base.render.chunk_frames",
    "memory_optimization.enable_gc": None,
    "memory_optimization.gc_frequency": None,
    "description": None,
}
for _key in ("num_emitters", "frames", "area_px", "intensity_mu", "intensity_sigma", "lifetime_avg",
             "z_range_um", "blinking", "off_time_avg", "bleach_prob", "positions_file"):
    _BASE_KEYS[f"emitters.{_key}"] = f"base.emitters.{_key}"

#: the objects of base_config (dotted); everything else there is a value (zernike is a table value)
_SECTIONS = {path.rsplit(".", 1)[0] for path in _BASE_KEYS if "." in path}

_TOP_KEYS = {"base_output_dir", "max_workers", "base_config", "variables", "sample_configs", "description"}
_SAMPLE_KEYS = {"num_samples": "num_samples", "frames_per_sample": "frames_per_sample", "sample_naming": "naming"}


def _flatten(tree: dict, file: str, prefix: str = "") -> dict[str, Any]:
    """Dotted leaf paths of base_config; only its known objects are descended into."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if path in _SECTIONS:
            flat.update(_flatten(_object(file, path, value), file, path + "."))
        else:
            # a value, even a dict: `"frames": {}` must not vanish, `zernike` is a table value
            flat[path] = value
    return flat


def _object(file: str, key: str, value: Any) -> dict:
    """``value`` if it is a JSON object; else the one-line refusal naming key and value."""
    if not isinstance(value, dict):
        raise UserError(f"{file}: {key} = {json.dumps(value)}: expected an object {{...}}")
    return value


def _translate_value(file: str, legacy_path: str, value: Any) -> Any:
    if legacy_path == "tiff.use_direct_rendering":
        # "no" or 0 would otherwise count as true/false by Python's truthiness
        if not isinstance(value, bool):
            raise UserError(f"{file}: {legacy_path} = {json.dumps(value)}: expected true or false")
        return "direct" if value else "oversampled"
    return value


def _set(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _unknown(file: str, key: str, choices) -> UserError:
    return UserError(f"unknown key '{key}' in {file}{did_you_mean(key, choices)}")


def _target(file: str, legacy_path: str) -> str | None:
    if legacy_path.startswith("zernike"):
        return "base.optics.zernike"
    if legacy_path not in _BASE_KEYS:
        raise _unknown(file, legacy_path, list(_BASE_KEYS) + sorted(_SECTIONS) + ["zernike"])
    return _BASE_KEYS[legacy_path]


def translate_legacy(data: dict, file: str) -> tuple[dict, list[str]]:
    """Translate a legacy batch JSON document.

    Returns
    -------
    tree
        The equivalent sweep-file tree (sections ``sweep``, ``cluster``, ``base``, ``variables``,
        ``samples``).
    ignored
        Legacy keys accepted without meaning here (reported to the user).
    """
    for key in data:
        if key not in _TOP_KEYS:
            raise _unknown(file, key, _TOP_KEYS)
    for key in ("base_config", "variables", "sample_configs"):
        if key in data:
            _object(file, key, data[key])
    tree: dict = {}
    ignored: list[str] = []
    if "base_output_dir" in data:
        _set(tree, "sweep.output", data["base_output_dir"])
    if "max_workers" in data:
        _set(tree, "cluster.workers", data["max_workers"])
    if "description" in data:
        ignored.append("description")

    for legacy_path, value in _flatten(data.get("base_config", {}), file).items():
        target = _target(file, legacy_path)
        if target is None:
            ignored.append(legacy_path)
        else:
            _set(tree, target, _translate_value(file, legacy_path, value))

    variables = {}
    for legacy_path, values in data.get("variables", {}).items():
        if legacy_path.startswith("zernike."):
            raise UserError(f"variables key '{legacy_path}' in {file}: one Zernike coefficient cannot be varied alone; "
                            "vary the whole table (\"zernike\": [{...}, {...}])")
        target = _target(file, legacy_path)
        if target is None or not target.startswith("base."):
            raise UserError(f"variables key '{legacy_path}' in {file} cannot be varied (allowed: parameters of base_config)")
        if not isinstance(values, list):
            raise UserError(f"{file}: variables.{legacy_path} = {json.dumps(values)}: expected a list of values")
        variables[target.removeprefix("base.")] = [_translate_value(file, legacy_path, v) for v in values]
    if variables:
        tree["variables"] = variables

    if "sample_configs" in data:
        samples = {}
        for key, value in data["sample_configs"].items():
            if key not in _SAMPLE_KEYS:
                raise _unknown(file, f"sample_configs.{key}", [f"sample_configs.{k}" for k in _SAMPLE_KEYS])
            if key == "sample_naming" and isinstance(value, str):
                # the original tool formatted positionally: "sample_{:03d}"
                value = re.sub(r"\{(?=[:}])", "{sample_id", value)
            samples[_SAMPLE_KEYS[key]] = value
        tree["samples"] = samples
    return tree, ignored
