"""Localization files of other tools, read into the project's conventions.

The project's conventions (README "Conventions and units"): x to the right, y down, in nm, origin at
the top-left corner of pixel (0, 0) (the centre of pixel (row i, column j) is at ((j+0.5)·p,
(i+0.5)·p)); z in nm; frames 0-based. Each reader states the convention of its tool and converts:

=============  =====================================================================================
thunderstorm   CSV, header ``"x [nm]"``, ``"y [nm]"``, ``"z [nm]"``, ``"frame"``, ``"intensity [photon]"``
               (units in brackets: ``nm``, ``px``, ``um``/``µm``); frames 1-based; x along columns,
               origin at the image corner (ThunderSTORM adds 0.5 px to a fit relative to the pixel
               centre: MultipleLocationsImageFitting.java) — the project's own convention.
picasso        HDF5 dataset ``locs`` (``frame, x, y, photons, sx, sy, bg, lpx, lpy, ...``, optional
               ``z`` in nm) + the ``.yaml`` beside it (``Pixelsize`` in nm, in one of its documents);
               x, y in camera pixels with the pixel centre at integer coordinates (its Gaussian
               integrates pixel i over [i − ½, i + ½]: gaussmle.py), x along columns; frames 0-based.
               ``x_nm = (x + 0.5) · p``.
decode         HDF5 (groups ``data``: ``xyz`` (n, 3), ``phot``, ``frame_ix``, ...; ``meta`` attrs
               ``xy_unit`` = "px" | "nm", ``px_size``) or CSV (three ``#`` lines, the third the JSON
               of ``xy_unit``/``px_size``, then ``x, y, z, phot, frame_ix, ...``): frames 0-based;
               x indexes the first image axis (rows) and y the second (its frame extent is
               (−0.5, W − 0.5): pixel centres at integers; ``xyz_nm = xyz_px · px_size``);
               z in nm. So ``x_nm = (y_decode + 0.5) · p`` and ``y_nm = (x_decode + 0.5) · p`` (or
               ``+ p/2`` for nm). (decode/utils/emitter_io.py, decode/generic/emitter.py,
               decode/neuralfitter/coord_transform.py.)
csv            any CSV with a column mapping (``x=..., y=..., frame=...[, z=..., photons=...]``);
               without one, the columns ``x_nm``/``x``, ``y_nm``/``y``, ``z_nm``/``z``,
               ``frame``/``frame_ix``, ``photons``/``phot``/``intensity`` are taken; defaults: nm,
               frames 0-based, origin at the corner (override with the options).
=============  =====================================================================================

Every option of :class:`ReaderOptions` left at None keeps the format's convention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputFileError, UserError

FORMATS = ("auto", "thunderstorm", "picasso", "decode", "csv")
ROLES = ("frame", "x", "y", "z", "photons")
_LENGTH = {"nm": 1.0, "um": 1000.0, "µm": 1000.0, "px": None}


@dataclass(frozen=True)
class ReaderOptions:
    """Overrides of a format's conventions (None: the format's own).

    Attributes
    ----------
    columns : mapping role -> column name
        Roles ``frame``, ``x``, ``y`` (required), ``z``, ``photons``.
    xy_unit : "nm" | "px" | "um"
    z_unit : "nm" | "um"
    frame_base : 0 | 1
        The number of the first frame in the file.
    origin : "corner" | "center"
        Where coordinate 0 is: the top-left corner of pixel (0, 0) (the project, ThunderSTORM) or
        its centre (Picasso, DECODE); "center" adds half a pixel.
    pixel_size_nm : float
        For pixel units and for "center" (else the file's own statement, else the simulation's).
    swap_xy : bool
        The file's x is the row axis (DECODE).
    z_sign : 1 | -1
        Multiplies z.
    """

    columns: Mapping[str, str] | None = None
    xy_unit: str | None = None
    z_unit: str | None = None
    frame_base: int | None = None
    origin: str | None = None
    pixel_size_nm: float | None = None
    swap_xy: bool | None = None
    z_sign: float | None = None

    def __post_init__(self):
        if self.columns is not None:
            bad = set(self.columns) - set(ROLES)
            if bad:
                raise UserError(f"score: column roles {sorted(bad)} are unknown; allowed: {', '.join(ROLES)}")
        if self.xy_unit is not None and self.xy_unit not in ("nm", "px", "um"):
            raise UserError(f"score: xy unit {self.xy_unit!r} is not nm, px or um")
        if self.z_unit is not None and self.z_unit not in ("nm", "um"):
            raise UserError(f"score: z unit {self.z_unit!r} is not nm or um")
        if self.frame_base is not None and self.frame_base not in (0, 1):
            raise UserError(f"score: frame base {self.frame_base!r} is not 0 or 1")
        if self.origin is not None and self.origin not in ("corner", "center"):
            raise UserError(f"score: origin {self.origin!r} is not corner or center")
        if self.pixel_size_nm is not None and not (float(self.pixel_size_nm) > 0):
            raise UserError(f"score: pixel size {self.pixel_size_nm!r} must be > 0 nm")
        if self.z_sign is not None and self.z_sign not in (1, -1):
            raise UserError(f"score: z sign {self.z_sign!r} is not 1 or -1")


def parse_columns(text: str | None) -> dict[str, str] | None:
    """``"x=x_nm,y=y_nm,frame=frame"`` -> ``{"x": "x_nm", ...}`` (the CLI's ``--columns``)."""
    if not text:
        return None
    out = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        role, sep, name = item.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise UserError(f"score: --columns item {item!r} is not ROLE=COLUMN (e.g. x=x_nm,y=y_nm,frame=frame)")
        out[role.strip()] = name.strip()
    return out


@dataclass
class Localizations:
    """Localizations in the project's conventions (nm, corner origin, 0-based frames)."""

    frame: np.ndarray
    x_nm: np.ndarray
    y_nm: np.ndarray
    z_nm: np.ndarray | None = None
    photons: np.ndarray | None = None
    source: str = ""
    format: str = ""
    pixel_size_nm: float | None = None  # what the file states, if anything
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.frame.size)

    @property
    def has_z(self) -> bool:
        """True when the file carries z that is not all zero/NaN (a 3-D localizer)."""
        if self.z_nm is None or not self.z_nm.size:
            return False
        z = self.z_nm[np.isfinite(self.z_nm)]
        return bool(z.size and np.any(z != 0))

    def select(self, mask: np.ndarray) -> Localizations:
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return replace(self, frame=self.frame[mask], x_nm=self.x_nm[mask], y_nm=self.y_nm[mask],
                       z_nm=pick(self.z_nm), photons=pick(self.photons), notes=list(self.notes))


@dataclass(frozen=True)
class _Convention:
    xy_unit: str = "nm"
    z_unit: str = "nm"
    frame_base: int = 0
    origin: str = "corner"
    swap_xy: bool = False
    z_sign: float = 1.0
    pixel_size_nm: float | None = None  # stated by the file


def detect_format(path: Path) -> str:
    """The format of a localization file from its content (HDF5 layout, CSV header)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such localization file")
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        import h5py

        with h5py.File(path, "r") as h5:
            if "locs" in h5:
                return "picasso"
            if "data" in h5 and isinstance(h5["data"], h5py.Group) and "xyz" in h5["data"]:
                return "decode"
        raise InputFileError(path, "an HDF5 file with neither a 'locs' dataset (Picasso) nor 'data/xyz' (DECODE)",
                             "a Picasso or DECODE localization file, or --format")
    text = head.decode("utf-8", errors="replace")
    if text.lstrip().startswith("# DECODE"):
        return "decode"
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    if re.search(r"\bx\s*\[(nm|px|um|µm)\]", first):
        return "thunderstorm"
    return "csv"


def read_localizations(path, format: str = "auto", options: ReaderOptions | None = None,
                       default_pixel_size_nm: float | None = None) -> Localizations:
    """Read one localization file into the project's conventions.

    ``default_pixel_size_nm`` (the simulation's pixel size) is used where the file needs one and
    states none; a file that states another pixel size than the simulation's gets a note.
    """
    path = Path(path)
    options = options or ReaderOptions()
    if format not in FORMATS:
        raise UserError(f"score: --format {format!r} is not one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise UserError(f"{path}: no such localization file")
    kind = detect_format(path) if format == "auto" else format
    reader = {"thunderstorm": _read_thunderstorm, "picasso": _read_picasso, "decode": _read_decode,
              "csv": _read_csv}[kind]
    try:
        raw, conv = reader(path, options)
    except (UserError, MemoryError):
        raise
    except Exception as exc:  # a malformed file: say which and what was expected
        raise InputFileError(path, f"an unreadable {kind} file ({type(exc).__name__}: {exc})",
                             f"a {kind} localization file (see README 'Scoring a localizer')") from exc
    return _convert(path, kind, raw, conv, options, default_pixel_size_nm)


# --------------------------------------------------------------------------------------- readers


def _read_table(path: Path, skiprows: int = 0):
    """A delimited text table (comma; tab or other delimiters sniffed for .tsv/.txt)."""
    import pandas as pd

    if path.suffix.lower() in (".tsv", ".txt", ".xls"):
        return pd.read_csv(path, skiprows=skiprows, sep=None, engine="python", skipinitialspace=True)
    return pd.read_csv(path, skiprows=skiprows, skipinitialspace=True)


def _pick(table, names: list[str]) -> str | None:
    lower = {str(c).strip().lower(): c for c in table.columns}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _mapped(table, path: Path, options: ReaderOptions, guesses: Mapping[str, list[str]]) -> dict[str, np.ndarray]:
    """The role columns of a table: from ``options.columns``, else the first of the guessed names."""
    raw = {}
    for role in ROLES:
        name = (options.columns or {}).get(role)
        if name is not None:
            if name not in table.columns:
                raise InputFileError(path, f"no column {name!r} (columns: {', '.join(map(str, table.columns))})",
                                     f"the column given for {role} in --columns")
        else:
            name = _pick(table, guesses.get(role, []))
        if name is not None:
            raw[role] = np.asarray(table[name].to_numpy(), dtype=np.float64)
    missing = [r for r in ("frame", "x", "y") if r not in raw]
    if missing:
        raise InputFileError(path, f"no {', '.join(missing)} column (columns: {', '.join(map(str, table.columns))})",
                             "columns for frame, x and y (name them with --columns x=...,y=...,frame=...)")
    return raw


def _read_thunderstorm(path: Path, options: ReaderOptions):
    table = _read_table(path)
    units = {}
    guesses: dict[str, list[str]] = {"frame": ["frame"], "photons": ["intensity [photon]", "intensity [photons]"]}
    for col in table.columns:
        m = re.fullmatch(r"\s*([xyz])\s*\[(nm|px|um|µm)\]\s*", str(col))
        if m:
            guesses.setdefault(m.group(1), []).append(str(col))
            units[m.group(1)] = "um" if m.group(2) == "µm" else m.group(2)
    raw = _mapped(table, path, options, guesses)
    xy_unit = units.get("x", "nm")
    if units.get("y", xy_unit) != xy_unit:
        raise InputFileError(path, f"x in {xy_unit} but y in {units['y']}", "x and y in the same unit")
    z_unit = units.get("z", "nm")
    if z_unit == "px":
        raise InputFileError(path, "z in px", "z in nm or um")
    return raw, _Convention(xy_unit=xy_unit, z_unit=z_unit, frame_base=1, origin="corner")


def _yaml_documents(path: Path) -> list:
    """All documents of a YAML file; tags of Python objects (numpy scalars) load as None."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    with open(path) as f:
        return [d for d in yaml.load_all(f, Loader=Loader) if d is not None]


def picasso_pixel_size(h5_path: Path) -> float | None:
    """``Pixelsize`` (nm) from the ``.yaml`` beside a Picasso file (the last document that has it)."""
    yaml_path = Path(h5_path).with_suffix(".yaml")
    if not yaml_path.is_file():
        return None
    size = None
    for doc in _yaml_documents(yaml_path):
        if isinstance(doc, dict):
            for key in ("Pixelsize", "Pixel Size", "pixelsize"):
                if isinstance(doc.get(key), (int, float)) and doc[key] > 0:
                    size = float(doc[key])
    return size


def _read_picasso(path: Path, options: ReaderOptions):
    import h5py

    with h5py.File(path, "r") as f:
        if "locs" not in f:
            raise InputFileError(path, "no 'locs' dataset", "a Picasso HDF5 file (dataset 'locs')")
        locs = f["locs"][...]
    names = locs.dtype.names or ()
    raw = {}
    columns = {"frame": "frame", "x": "x", "y": "y", "z": "z", "photons": "photons", **(options.columns or {})}
    for role, name in columns.items():
        if name in names:
            raw[role] = np.asarray(locs[name], dtype=np.float64)
    for role in ("frame", "x", "y"):
        if role not in raw:
            raise InputFileError(path, f"no field {columns[role]!r} in 'locs' (fields: {', '.join(names)})",
                                 "Picasso's frame, x, y fields")
    size = picasso_pixel_size(path)
    if size is None:
        raw["_note"] = "no .yaml with a Pixelsize beside it (the simulation's pixel size is used)"
    return raw, _Convention(xy_unit="px", z_unit="nm", frame_base=0, origin="center", pixel_size_nm=size)


def _decode_px_size(value) -> tuple[float, float] | None:
    if value is None:
        return None
    a = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        return None
    return (float(a[0]), float(a[-1]))


def _read_decode(path: Path, options: ReaderOptions):
    meta: dict = {}
    with open(path, "rb") as f:
        is_h5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
    if is_h5:
        import h5py

        with h5py.File(path, "r") as f:
            data = f["data"]
            xyz = np.asarray(data["xyz"][...], dtype=np.float64)
            raw = {"x": xyz[:, 0], "y": xyz[:, 1], "frame": np.asarray(data["frame_ix"][...], dtype=np.float64)}
            if xyz.shape[1] > 2:
                raw["z"] = xyz[:, 2]
            if "phot" in data and data["phot"].shape is not None:
                raw["photons"] = np.asarray(data["phot"][...], dtype=np.float64)
            if "meta" in f:
                meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["meta"].attrs.items()}
    else:
        with open(path) as f:
            comments = []
            for line in f:
                if not line.startswith("#"):
                    break
                comments.append(line[1:].strip())
        for text in comments[1:]:
            try:
                obj = json.loads(text)
            except ValueError:
                continue
            if isinstance(obj, dict) and ("xy_unit" in obj or "px_size" in obj):
                meta = obj
        table = _read_table(path, skiprows=len(comments))
        raw = _mapped(table, path, options, {"frame": ["frame_ix"], "x": ["x"], "y": ["y"], "z": ["z"],
                                             "photons": ["phot"]})
    unit = str(meta.get("xy_unit") or "px")
    if unit not in ("px", "nm"):
        raise InputFileError(path, f"xy_unit {unit!r}", "DECODE's 'px' or 'nm'")
    px = _decode_px_size(meta.get("px_size"))
    if px is not None and px[0] != px[1]:
        raise InputFileError(path, f"px_size {px} (non-square pixels)", "square pixels")
    conv = _Convention(xy_unit=unit, z_unit="nm", frame_base=0, origin="center", swap_xy=True,
                       pixel_size_nm=None if px is None else px[0])
    return raw, conv


def _read_csv(path: Path, options: ReaderOptions):
    table = _read_table(path)
    guesses = {"frame": ["frame", "frame_ix", "frames"], "x": ["x_nm", "x", "xnano", "x [nm]"],
               "y": ["y_nm", "y", "ynano", "y [nm]"], "z": ["z_nm", "z", "znano", "z [nm]"],
               "photons": ["photons", "phot", "intensity", "intensity [photon]"]}
    return _mapped(table, path, options, guesses), _Convention()


# --------------------------------------------------------------------------------------- convert


def _convert(path: Path, kind: str, raw: dict, conv: _Convention, options: ReaderOptions,
             default_pixel_size_nm: float | None) -> Localizations:
    notes = []
    if "_note" in raw:
        notes.append(f"{path.name}: {raw.pop('_note')}")
    xy_unit = options.xy_unit or conv.xy_unit
    z_unit = options.z_unit or conv.z_unit
    frame_base = conv.frame_base if options.frame_base is None else options.frame_base
    origin = options.origin or conv.origin
    swap = conv.swap_xy if options.swap_xy is None else options.swap_xy
    z_sign = conv.z_sign if options.z_sign is None else float(options.z_sign)
    stated = conv.pixel_size_nm
    pixel = options.pixel_size_nm or stated or default_pixel_size_nm
    if stated and default_pixel_size_nm and not options.pixel_size_nm and abs(stated - default_pixel_size_nm) > 1e-6 * stated:
        notes.append(f"{path.name}: states a pixel size of {stated:g} nm, the simulation's is {default_pixel_size_nm:g} nm "
                     f"(the file's is used; --pixel-size-nm overrides)")
    needs_pixel = xy_unit == "px" or origin == "center"
    if needs_pixel and not pixel:
        raise UserError(f"{path}: coordinates in pixels (or pixel-centre origin) and no pixel size known; "
                        f"give --pixel-size-nm")

    frame = raw["frame"]
    x, y = raw["x"], raw["y"]
    if swap:
        x, y = y, x
    scale = pixel if xy_unit == "px" else _LENGTH[xy_unit]
    x = x * scale
    y = y * scale
    if origin == "center":
        x = x + 0.5 * pixel
        y = y + 0.5 * pixel
    z = raw.get("z")
    if z is not None:
        z = z * _LENGTH[z_unit] * z_sign
    photons = raw.get("photons")

    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(frame)
    if not np.all(keep):
        notes.append(f"{path.name}: {int((~keep).sum())} rows without finite frame/x/y ignored")
    frame = frame[keep] - frame_base
    if frame.size and (np.any(frame != np.round(frame)) or frame.min() < 0):
        raise InputFileError(path, f"frames {frame.min() + frame_base:g}..{frame.max() + frame_base:g} "
                                   f"(non-integer or below the first frame {frame_base})",
                             f"integer frames numbered from {frame_base} ({kind}; --frame-base to change)")
    return Localizations(frame=frame.astype(np.int64), x_nm=x[keep], y_nm=y[keep],
                         z_nm=None if z is None else z[keep], photons=None if photons is None else photons[keep],
                         source=str(path), format=kind, pixel_size_nm=stated, notes=notes)
