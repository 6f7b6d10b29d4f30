"""Write a resolved sweep back as TOML (the ``sweep.toml`` kept in every output, for provenance)."""

from __future__ import annotations

import json
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _table(lines: list[str], name: str, table: dict) -> None:
    scalars = {k: v for k, v in table.items() if v is not None and not (isinstance(v, dict) and k in _SECTIONS)}
    lines.append(f"[{name}]")
    lines.extend(f"{json.dumps(k) if '.' in k else k} = {_value(v)}" for k, v in scalars.items())
    lines.append("")


_SECTIONS = {"emitters", "optics", "camera", "render"}


def to_toml(tree: dict) -> str:
    """TOML text of a sweep tree (sections sweep, cluster, base.*, variables, zip, samples, random)."""
    lines: list[str] = []
    for section in ("sweep", "cluster"):
        if tree.get(section):
            _table(lines, section, tree[section])
    for name, table in tree.get("base", {}).items():
        _table(lines, f"base.{name}", table)
    if tree.get("variables"):
        _table(lines, "variables", tree["variables"])
    for group in tree.get("zip") or []:
        lines.append("[[zip]]")
        lines.extend(f"{json.dumps(k)} = {_value(v)}" for k, v in group.items())
        lines.append("")
    if tree.get("samples"):
        _table(lines, "samples", tree["samples"])
    if tree.get("random"):
        # a parameter's table without the keys its distribution does not take (unset = None)
        _table(lines, "random", {k: {a: b for a, b in v.items() if b is not None} if isinstance(v, dict) else v
                                 for k, v in tree["random"].items()})
    return "\n".join(lines)
