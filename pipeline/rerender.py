"""``python -m pipeline render SOURCE``: re-render a ground truth as a sweep of one job (the original tool's
``memory_optimized_tiff_generator.py --h5 input.h5 --output output.tiff``).

The job is an ordinary sweep with ``emitters.source = SOURCE``; its optics, camera, background and
render settings come from ``--sweep FILE`` (its ``[base]``), else — for this project's emitters.h5 —
from the job that wrote the file (its ``parameters`` attribute), else the defaults; ``--set KEY=VALUE``
changes any of them (``--set camera.type=emccd``). What the source already holds is not taken from
its job: the emitters' placement, blinking and illumination and the stage drift are in its
localizations.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .config import LoadedSweep, load_sweep
from .config.dump import to_toml
from .errors import UserError

#: sections of a source job's parameters that its localizations already hold
_IN_THE_ROWS = ("drift", "illumination")


def _value(text: str) -> Any:
    """A ``--set`` value as TOML reads it (numbers, true/false, [lists], "strings"), else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _source_job(source: Path) -> tuple[dict, int | None, int | None]:
    """(base parameters, frames, seed) of the job that wrote an emitters.h5 ({} and None for a CSV)."""
    import h5py

    if not h5py.is_hdf5(source):
        return {}, None, None
    with h5py.File(source, "r") as f:
        text = f.attrs.get("parameters")
        frames, seed = f.attrs.get("frames"), f.attrs.get("sweep_seed")
    base = json.loads(text) if isinstance(text, (str, bytes)) else {}
    return base, None if frames is None else int(frames), None if seed is None else int(seed)


def render_sweep(source: str | Path, folder: Path, sweep: str | Path | None = None,
                 settings: list[str] | tuple[str, ...] = ()) -> LoadedSweep:
    """Write and load the one-job sweep that re-renders ``source`` (its file goes into ``folder``)."""
    source = Path(source).resolve()
    if not source.is_file():
        raise UserError(f"render: {source} does not exist (expected an emitters.h5 or a ThunderSTORM CSV)")
    tree: dict[str, Any] = {"sweep": {"name": "render"}}
    if sweep is not None:
        given = load_sweep(sweep).model.model_dump(mode="json", exclude_none=True)
        tree = {key: given[key] for key in ("sweep", "cluster", "base") if key in given}
        base = tree.get("base", {})
    else:
        base, frames, seed = _source_job(source)
        if seed is not None:
            tree["sweep"]["seed"] = seed
        if frames is not None:
            base.setdefault("emitters", {})["frames"] = frames
    for section in _IN_THE_ROWS:
        base.pop(section, None)
    frames = base.get("emitters", {}).get("frames")
    base["emitters"] = {"source": str(source), **({"frames": frames} if frames else {})}
    tree["base"] = base
    for setting in settings:
        key, sep, text = setting.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise UserError(f"render: --set {setting!r}: expected SECTION.KEY=VALUE, e.g. camera.type=emccd")
        base.setdefault(parts[0], {})[parts[1]] = _value(text.strip())
    if "frames" not in base["emitters"]:
        from .inputs.truth_source import open_source

        base["emitters"]["frames"] = max(open_source(source).frames, 1)
    path = folder / "render.toml"
    path.write_text(to_toml(tree))
    try:
        return load_sweep(path)
    except UserError as exc:  # (the file is ours: name what the user gave instead)
        raise UserError(str(exc).replace("render.toml", "the render settings (--set, --sweep or the source's job)")) from None
