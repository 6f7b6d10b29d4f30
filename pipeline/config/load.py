"""Read a sweep file (TOML, or the original tool's JSON) into a validated :class:`SweepFile`.

Every refusal is a :class:`~pipeline.errors.UserError` of one line naming the file, the dotted
key, the bad value and what is allowed.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from ..errors import UserError, did_you_mean
from .legacy import translate_legacy
from .models import PATTERN_HELP, Draw, JobConfig, RandomSection, SweepFile
from .reference import allowed_at, leaf_keys, model_of

#: keys of [base] whose values are paths, resolved relative to the sweep file's folder
PATH_KEYS = ("optics.zmap_path", "camera.maps_path", "emitters.positions_file", "optics.psf_file",
             "emitters.density_file", "emitters.source", "illumination.file", "background.map_file")


@dataclass(frozen=True)
class LoadedSweep:
    """A validated sweep file and where it came from."""

    path: Path
    model: SweepFile
    ignored_keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.model.sweep.name or self.path.stem

    def output_dir(self, override: str | Path | None = None) -> Path:
        """The output folder: ``--output`` (relative to cwd) > ``sweep.output`` (relative to the file)."""
        if override:
            output = Path(override).resolve()
            # checked here, not only by run: `plan` must refuse what `run` would refuse
            if not output.parent.is_dir():
                raise UserError(f"--output {output}: parent folder {output.parent} does not exist")
            return output
        if self.model.sweep.output:
            return (self.path.parent / self.model.sweep.output).resolve()
        return (Path.cwd() / "runs" / self.name).resolve()


def _display(path: str) -> str:
    """Keys under [base] are shown as the variables spell them: ``emitters.frames``."""
    return path.removeprefix("base.")


def _check_keys(tree: dict, model: type[BaseModel], file: str, prefix: str = "") -> None:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if model is RandomSection and key not in model.model_fields:
            _check_draw_keys(key, value, file)
            continue
        if key not in model.model_fields:
            valid = [_display(k) for k in leaf_keys(SweepFile)] + list(JobConfig.model_fields)
            raise UserError(f"unknown key '{_display(path)}' in {file}{did_you_mean(_display(path), valid)}")
        sub = model_of(model.model_fields[key].annotation)
        if sub is not None:
            if not isinstance(value, dict):
                raise UserError(f"{file}: '{_display(path)}' must be a table of keys, got {value!r}")
            _check_keys(value, sub, file, path + ".")


def _check_draw_keys(key: str, value, file: str) -> None:
    """A parameter of [random]: a dotted key (checked against [base] by the plan) and a table of Draw's keys."""
    if "." not in key:
        raise UserError(f"unknown key 'random.{key}' in {file}: [random] holds n, method and parameters as dotted "
                        f"paths relative to [base], e.g. \"camera.background\" = {{ distribution = \"uniform\", "
                        f"low = 5.0, high = 200.0 }}")
    if not isinstance(value, dict):
        raise UserError(f"{file}: random.{key} = {value!r}: expected a table such as "
                        f"{{ distribution = \"uniform\", low = 1.0, high = 2.0 }}")
    for sub in value:
        if sub not in Draw.model_fields:
            raise UserError(f"unknown key '{sub}' of random.{key} in {file}{did_you_mean(sub, Draw.model_fields)}; "
                            f"allowed: {', '.join(Draw.model_fields)}")


def _dotted(loc) -> str:
    """``("base", "camera", "roi", 1)`` -> ``base.camera.roi[1]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def format_validation_error(exc: pydantic.ValidationError, file: str, model: type[BaseModel] = SweepFile) -> str:
    """One line for the first error: file, dotted key, bad value, what is allowed.

    ``model`` is the model that was validated (the error's location starts there).
    """
    err = exc.errors()[0]
    loc, msg = err["loc"], err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing" and loc and not isinstance(loc[-1], int):  # (its input is the whole table)
        allowed = allowed_at(model, loc)
        return f"{file}: {_display(_dotted(loc))} is required" + (f"; allowed: {allowed}" if allowed else "")
    if err["type"] == "missing" and loc:
        loc, msg = loc[:-1], "too few items"  # roi = [32]: the list is wrong, not its missing item
    bad_key = loc[-1:] == ("[key]",)  # a bad key of a table (a Noll index of optics.zernike), not a value
    key = _display(_dotted(loc[:-2] if bad_key else loc))
    if err["type"] in ("value_error", "assertion_error") or not key:
        return f"{file}: {key}: {msg}" if key else f"{file}: {msg}"
    what = f"{key} key {err['input']!r}" if bad_key else f"{key} = {err.get('input')!r}"
    if err["type"] == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        return f"{file}: {what}: expected {PATTERN_HELP.get(pattern, f'a string matching {pattern}')}"
    allowed = allowed_at(model, loc)
    # a Literal's message already lists the choices
    if allowed and err["type"] != "literal_error":
        msg = f"{msg}; allowed: {allowed}"
    return f"{file}: {what}: {msg}"


def _read_tree(path: Path) -> tuple[dict, tuple[str, ...]]:
    if not path.is_file():
        raise UserError(f"sweep file {path} does not exist")
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the text
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read sweep file {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path.name}: JSON syntax error: {exc.msg} (at line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(data, dict):
            raise UserError(f"{path.name}: expected a JSON object at the top level")
        tree, ignored = translate_legacy(data, path.name)
        return tree, tuple(ignored)
    try:
        return tomllib.loads(text), ()
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path.name}: TOML syntax error: {exc}") from None


def resolve_paths(base: dict, folder: Path) -> None:
    """Make the input-file paths of a [base]-shaped dict absolute, relative to ``folder``."""
    for dotted in PATH_KEYS:
        section, key = dotted.split(".")
        value = base.get(section, {}).get(key)
        if isinstance(value, str) and value:
            base[section][key] = str((folder / value).expanduser().resolve())


def load_sweep(path: str | Path) -> LoadedSweep:
    """Read and validate a sweep file (``.toml``, or a legacy ``.json`` batch file)."""
    path = Path(path).resolve()
    tree, ignored = _read_tree(path)
    _check_keys(tree, SweepFile, path.name)
    resolve_paths(tree.get("base", {}), path.parent)
    for values in [tree.get("variables", {})] + list(tree.get("zip", [])):
        for dotted, vals in values.items() if isinstance(values, dict) else ():
            if dotted in PATH_KEYS and isinstance(vals, list):
                values[dotted] = [str((path.parent / v).resolve()) if isinstance(v, str) and v else v for v in vals]
    random = tree.get("random")
    for dotted, draw in random.items() if isinstance(random, dict) else ():
        if dotted in PATH_KEYS and isinstance(draw, dict) and isinstance(draw.get("values"), list):
            draw["values"] = [str((path.parent / v).resolve()) if isinstance(v, str) and v else v for v in draw["values"]]
    try:
        model = SweepFile.model_validate(tree)
    except pydantic.ValidationError as exc:
        raise UserError(format_validation_error(exc, path.name)) from None
    if model.sweep.name is None and path.stem in (".", ".."):
        # the default output is runs/<stem>: "...toml" would make it the current directory
        raise UserError(f"{path.name}: the file name gives no usable sweep name; set sweep.name")
    return LoadedSweep(path=path, model=model, ignored_keys=ignored)


def job_config(base: JobConfig, overrides: dict[str, Any], file: str, what: str) -> JobConfig:
    """The base with dotted overrides applied, validated; ``what`` names the overrides in errors."""
    tree = base.model_dump()
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        tree[section][key] = value
    try:
        return JobConfig.model_validate(tree)
    except pydantic.ValidationError as exc:
        detail = format_validation_error(exc, file, JobConfig)
        raise UserError(f"{detail} (with {what})") from None
