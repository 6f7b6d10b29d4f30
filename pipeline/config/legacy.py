"""Translate the original tool's JSON batch files to the sweep-file layout (design §2)."""

from __future__ import annotations

import difflib
import re
from typing import Any

from ..errors import UserError

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

_TOP_KEYS = {"base_output_dir", "max_workers", "base_config", "variables", "sample_configs", "description"}
_SAMPLE_KEYS = {"num_samples": "num_samples", "frames_per_sample": "frames_per_sample", "sample_naming": "naming"}


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        # zernike is a mapping of Noll index -> nm: a value, not a section
        if isinstance(value, dict) and key != "zernike":
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _translate_value(legacy_path: str, value: Any) -> Any:
    if legacy_path == "tiff.use_direct_rendering":
        return "direct" if value else "oversampled"
    return value


def _set(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _unknown(file: str, key: str, choices) -> UserError:
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return UserError(f"unknown key '{key}' in {file}{hint}")


def _target(file: str, legacy_path: str) -> str | None:
    if legacy_path.startswith("zernike"):
        return "base.optics.zernike"
    if legacy_path not in _BASE_KEYS:
        raise _unknown(file, legacy_path, list(_BASE_KEYS) + ["zernike"])
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
        if key in data and not isinstance(data[key], dict):
            raise UserError(f"{file}: '{key}' must be an object {{...}}, got {data[key]!r}")
    tree: dict = {}
    ignored: list[str] = []
    if "base_output_dir" in data:
        _set(tree, "sweep.output", data["base_output_dir"])
    if "max_workers" in data:
        _set(tree, "cluster.workers", data["max_workers"])
    if "description" in data:
        ignored.append("description")

    for legacy_path, value in _flatten(data.get("base_config", {})).items():
        target = _target(file, legacy_path)
        if target is None:
            ignored.append(legacy_path)
        else:
            _set(tree, target, _translate_value(legacy_path, value))

    variables = {}
    for legacy_path, values in data.get("variables", {}).items():
        if legacy_path.startswith("zernike."):
            raise UserError(f"variables key '{legacy_path}' in {file}: one Zernike coefficient cannot be varied alone; "
                            "vary the whole table (\"zernike\": [{...}, {...}])")
        target = _target(file, legacy_path)
        if target is None or not target.startswith("base."):
            raise UserError(f"variables key '{legacy_path}' in {file} cannot be varied (allowed: parameters of base_config)")
        if not isinstance(values, list):
            raise UserError(f"variables '{legacy_path}' in {file} = {values!r}: expected a list of values")
        variables[target.removeprefix("base.")] = [_translate_value(legacy_path, v) for v in values]
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
