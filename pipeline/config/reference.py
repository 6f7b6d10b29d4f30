"""What every key of the sweep file allows, in words, derived from the schema (models.py).

The ranges live only in the models' constraints (``ge``/``gt``/``le``/``lt``, ``pattern``,
``Literal``) and, for rules a constraint cannot say, in the docstring of the field validator that
checks them; this module reads them back for error messages (:func:`allowed_at`) and for the
README's sweep-file reference (:func:`keys_table`)::

    python -c "from pipeline.config.reference import keys_table; print(keys_table())"
"""

from __future__ import annotations

import json
import re
import types
import typing

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .dump import _value as toml_value
from .models import PATTERN_HELP, SweepFile


def model_of(annotation) -> type[BaseModel] | None:
    """The pydantic model inside ``Model`` or ``Model | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """All dotted leaf keys of a model, e.g. ``emitters.num_emitters`` for :class:`JobConfig`."""
    keys = []
    for name, info in model.model_fields.items():
        sub = model_of(info.annotation)
        keys.extend(leaf_keys(sub, f"{prefix}{name}.") if sub else [f"{prefix}{name}"])
    return keys


def _unwrap(annotation, constraints=()) -> tuple[typing.Any, list]:
    """The bare type and the constraints of ``Annotated[...]`` (nested, or inside ``X | None``)."""
    constraints = list(constraints)
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                constraints.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation):
            # None only means "not set" (a default applies): what may be written is the other arm
            (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        else:
            return annotation, constraints


def bare_type(annotation):
    """The type a value of this annotation has, without constraints and ``None``: ``int`` for ``Count``."""
    return _unwrap(annotation)[0]


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    digits = str(abs(value))
    if isinstance(value, int) and abs(value) >= 10**5 and digits.rstrip("0") == "1":
        return f"{'-' if value < 0 else ''}1e{len(digits) - 1}"  # as TOML spells it: 1e8
    return str(value)


def _range(constraints: list) -> str:
    low = next((f"{_number(c.gt)} < " for c in constraints if isinstance(c, Gt)), "")
    low = low or next((f"{_number(c.ge)} <= " for c in constraints if isinstance(c, Ge)), "")
    high = next((f" < {_number(c.lt)}" for c in constraints if isinstance(c, Lt)), "")
    high = high or next((f" <= {_number(c.le)}" for c in constraints if isinstance(c, Le)), "")
    return f" {low}x{high}" if low or high else ""


def describe(annotation, constraints=()) -> str:
    """What a value of this type may be, e.g. ``number 200 <= x <= 2000`` or ``"single" or "markov"``."""
    annotation, constraints = _unwrap(annotation, constraints)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in args)
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return ("integer" if annotation is int else "number") + _range(constraints)
    if annotation is str:
        pattern = next((c.pattern for c in constraints if getattr(c, "pattern", None)), None)
        return PATTERN_HELP.get(pattern, f"string matching {pattern}") if pattern else "string"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
        longest = next((c.max_length for c in constraints if getattr(c, "max_length", None)), None)
        return f"list of {'up to ' + str(longest) if longest else 'any number'}, each {describe(args[0])}"
    if origin is tuple:
        items = {describe(a) for a in args}
        return f"list of {len(args)}, each {items.pop()}" if len(items) == 1 else f"[{', '.join(map(describe, args))}]"
    if origin is dict:
        return f"table {{{describe(args[0])} = {describe(args[1])}}}"
    if origin is list:
        return f"list of {describe(args[0])}"
    if model_of(annotation):
        return "table"
    return getattr(annotation, "__name__", str(annotation))


def allowed_at(model: type[BaseModel], loc: tuple) -> str:
    """What is allowed at a validation error's location (``("base", "camera", "roi", 0)``); "" if unknown.

    The location walks sections, then the field, then into the field's value: a table's entry
    (``"[key]"`` for a bad key itself), a list's item.
    """
    parts = list(loc)
    while parts and model is not None:
        owner, name = model, parts.pop(0)
        info = model.model_fields.get(name)
        if info is None:
            return ""
        model = model_of(info.annotation)
    if model is not None:
        return ""  # the error is about a whole section
    if not parts:
        return field_allowed(owner, name)
    annotation = info.annotation
    while parts:
        part = parts.pop(0)
        annotation, _ = _unwrap(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is dict:
            annotation = args[0] if parts[:1] == ["[key]"] else args[1]
            parts = parts[1:] if parts[:1] == ["[key]"] else parts
        elif origin in (list, tuple) and isinstance(part, int) and args:
            annotation = args[min(part, len(args) - 1)]
        else:
            return ""
    return describe(annotation)


def field_allowed(model: type[BaseModel], name: str) -> str:
    """What field ``name`` of ``model`` allows: its type and constraints, and its validators' rules."""
    info = model.model_fields[name]
    rules = [d.func.__doc__ for d in model.__pydantic_decorators__.field_validators.values()
             if name in d.info.fields and d.func.__doc__]
    return ": ".join([describe(info.annotation, info.metadata), *rules])


def _rows(model: type[BaseModel], prefix: str = ""):
    for name, info in model.model_fields.items():
        sub = model_of(info.annotation)
        if sub is not None:
            yield from _rows(sub, f"{prefix}{name}.")
            continue
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        default = ("required" if info.is_required() else "unset" if default is None
                   else toml_value(default) if default != {} else "{}")
        yield f"{prefix}{name}", default, info.description or "", field_allowed(model, name)


def _cell(text: str) -> str:
    # "|" ends a cell; "<name>" would be taken for an HTML tag
    return re.sub(r"<(?=[A-Za-z/])", "&lt;", text.replace("|", "\\|"))


def keys_table() -> str:
    """Markdown table of every key of the sweep file: key, default, unit/description, allowed values."""
    lines = ["| key | default | unit / description | allowed |", "|---|---|---|---|"]
    lines += [f"| `{key}` | `{default}` | {_cell(text)} | {_cell(allowed)} |"
              for key, default, text, allowed in _rows(SweepFile)]
    return "\n".join(lines)


#: units of the keys whose name does not end in one (``*_nm``, ``*_um``, ``*_ms``, ``*_px``, ``*_adu``)
_UNITS = {
    "emitters.intensity_mu": "photon", "emitters.intensity_sigma": "photon", "emitters.lifetime_avg": "frame",
    "emitters.off_time_avg": "frame", "emitters.frames": "frame", "camera.background": "photon/pixel/frame",
    "camera.readout_noise": "e-", "camera.e_per_adu": "e-/ADU", "camera.bit_depth": "bit",
    "camera.roi_size": "pixel", "render.chunk_frames": "frame",
}
_SUFFIXES = {"_nm": "nm", "_um": "um", "_ms": "ms", "_px": "pixel", "_adu": "ADU"}


def unit_of(dotted: str) -> str:
    """The unit of a key of ``[base]`` (``"camera.background"`` → ``"photon/pixel/frame"``); "" if none (a count, a ratio)."""
    if dotted in _UNITS:
        return _UNITS[dotted]
    return next((unit for suffix, unit in _SUFFIXES.items() if dotted.endswith(suffix)), "")
