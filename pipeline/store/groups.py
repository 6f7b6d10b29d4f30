"""The sweep's Zarr v3 store: one group per job with ``frames`` (t, y, x) and its coordinates.

Layout (design §4)::

    sweep.zarr/<job>/frames   uint16 or float32, chunks (chunk_frames, Y, X), Blosc-LZ4
    sweep.zarr/<job>/t, y, x  coordinates: seconds, µm at pixel centres
    sweep.zarr/<job>/drift_x_nm, drift_y_nm, drift_z_nm   (t,) stage drift, nm (only with [base.drift])
    attrs: job, fingerprint, parameters (resolved), varied, sample_id, chunk_frames, ome (NGFF 0.5),
           draw (jobs of a [random] design: index, n, method, keys)

Chunk writes (:mod:`.chunks`) are whole zarr chunks, so parallel tasks never touch the same object.
"""

from __future__ import annotations

import fnmatch
import gc
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import atomic
from ..errors import UserError
from ..plan import Job
from .documents import BLOSC, coordinate_files, encode, frames_document
from .metadata import FRAMES, check_root, damaged_metadata, group_folders, node_document, node_problem, store_path

if TYPE_CHECKING:
    import zarr

# zarr is imported where it is used: a fresh run's client and its workers write new groups and
# chunks without it (:mod:`.documents`), and its import was on the path to the first chunk in both


def frames_codec():
    """The frames' Blosc as a zarr codec: LZ4 with byte shuffle, the fastest Blosc codec that still
    halves noisy uint16 frames; level 1 compresses them as well as level 5 (ratio 1.99 on a
    background-100 frame) in 60 % of the time."""
    from zarr.codecs import BloscCodec

    return BloscCodec(**BLOSC)


def job_attrs(job: Job) -> dict:
    pixel_um, interval_s = job.pixel_size_um, job.frame_interval_s
    attrs = {
        "job": job.name,
        "fingerprint": job.fingerprint,
        # with the parameters, everything needed to rebuild the job's scene (export needs no sweep file)
        "sweep_seed": job.sweep_seed,
        "seed_digest": job.seed_digest,
        "sample_id": job.sample_id,
        "varied": job.varied,
        "parameters": job.config.model_dump(mode="json"),
        "chunk_frames": job.chunk_frames,
        **({"shard_frames": job.shard_frames} if job.shard_frames else {}),
        "units": {"t": "s", "y": "um", "x": "um", "frames": "ADU"},
        "ome": {
            "version": "0.5",
            "multiscales": [{
                "name": job.name,
                "axes": [
                    {"name": "t", "type": "time", "unit": "second"},
                    {"name": "y", "type": "space", "unit": "micrometer"},
                    {"name": "x", "type": "space", "unit": "micrometer"},
                ],
                "datasets": [{
                    "path": FRAMES,
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [interval_s, pixel_um, pixel_um]},
                        # index i sits at the pixel centre (i + 0.5) p, like the xarray coordinates
                        {"type": "translation", "translation": [0.0, pixel_um / 2, pixel_um / 2]},
                    ],
                }],
            }],
        },
    }
    if job.draw is not None:  # (only then: a grid job's attributes are what they always were)
        attrs["draw"] = job.draw.as_json()
    return attrs


def coordinates(job: Job) -> dict[str, np.ndarray]:
    height, width = job.config.camera.roi_shape
    return {
        "t": np.arange(job.frames) * job.frame_interval_s,
        "y": (np.arange(height) + 0.5) * job.pixel_size_um,
        "x": (np.arange(width) + 0.5) * job.pixel_size_um,
    }


def derived_arrays(job: Job) -> dict[str, tuple[np.ndarray, tuple[str, ...], dict]]:
    """Arrays of the group besides ``frames``, derived from the job alone: name -> (data, dimensions, attributes).

    The coordinates, and with drift the stage drift of every frame (``drift_x_nm`` ... along ``t``).
    """
    arrays = {name: (values, (name,), {"units": "s" if name == "t" else "um"})
              for name, values in coordinates(job).items()}
    if job.config.drift.active:
        from ..scene import job_drift

        for axis, values in zip("xyz", job_drift(job).T):
            arrays[f"drift_{axis}_nm"] = (values, ("t",), {"units": "nm", "long_name": f"stage drift in {axis}"})
    return arrays


def _matches(group: zarr.Group, job: Job) -> bool:
    try:
        if group.attrs.get("fingerprint") != job.fingerprint or FRAMES not in group:
            return False
        frames = group[FRAMES]
    except Exception:  # noqa: BLE001 - damaged array metadata: not a group whose chunks can be kept as they are
        return False
    shards = frames.shards[0] if frames.shards else 0
    return (frames.shape == job.shape and frames.chunks[0] == job.chunk_frames and shards == job.shard_frames
            and frames.dtype == job.dtype)


def _open_root(output: Path) -> zarr.Group:
    import zarr

    # never the consolidated view: it lists the groups of the last finished run, not the live ones
    return zarr.open_group(store_path(output), mode="a", zarr_format=3, use_consolidated=False)


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare_job` did besides keeping the job's chunks: the group's former name, a replaced
    layout, metadata it rebuilt."""

    moved_from: str | None = None
    old_chunk_frames: int | None = None  # the same job stored with another layout: its frames per unit (shard or chunk)
    rebuilt: tuple[str, ...] = ()  # one line per damaged metadata file rebuilt
    unsure: bool = False  # the group's or the frames' metadata was rebuilt: its chunks must prove their checksums
    deferred: bool = False  # a new group that the job's task writes (write_new_group)


def _aside(folder: Path, name: str, fingerprint: str) -> Path:
    target, n = folder / f"{name}~{fingerprint[:8]}", 1
    while target.exists():
        n += 1
        target = folder / f"{name}~{fingerprint[:8]}-{n}"
    return target


def fingerprint_index(output: Path) -> dict[str, str]:
    """Fingerprint → name of every job group in the store whose group and frames metadata are zarr v3
    documents: read once per run for :func:`prepare_job`. Read as JSON, without zarr (which takes
    ~6 ms to open a group: a minute for a store of 10^4 jobs); whether zarr reads a group is left
    to those who keep it (:func:`kept_group`, :func:`prepare_job`)."""
    root, index = store_path(output), {}
    for name in group_folders(output):
        fingerprint = _fingerprint_at(root / name)
        if fingerprint is not None and node_document(root / name / FRAMES, "array")[0] is not None:
            index[fingerprint] = name  # (names in order: the last of a fingerprint's groups, as before)
    return index


def _fingerprint_at(folder: Path) -> str | None:
    """The fingerprint in a group's document (as text), or None (no readable group document, or
    none in it)."""
    group = node_document(folder, "group")[0]
    attributes = group.get("attributes") if group is not None else None
    fingerprint = attributes.get("fingerprint") if isinstance(attributes, dict) else None
    return None if fingerprint is None else str(fingerprint)


def _candidates(output: Path, job: Job, index: dict[str, str]) -> list[str]:
    """The groups that may hold the job's chunks, in the order they are tried: its own name (when
    that group has the job's fingerprint), then the fingerprint's group in ``index``."""
    name = index.get(job.fingerprint)
    if name == job.name:
        return [name]
    names = [job.name] if _fingerprint_at(store_path(output) / job.name) == job.fingerprint else []
    return names + [name] if name is not None else names


def _twins(output: Path, fingerprint: str, tried: list[str]) -> list[str]:
    """The other groups with this fingerprint (a copy; rare), last name first, as the index has it:
    tried when the indexed one cannot be kept, so that a damaged copy never hides an intact one."""
    root = store_path(output)
    return [name for name in reversed(group_folders(output))
            if name not in tried and _fingerprint_at(root / name) == fingerprint]


def kept_group(output: Path, job: Job, index: dict[str, str]) -> str | None:
    """The group whose chunks :func:`prepare_job` will keep for the job (its own, or the group of its
    fingerprint under an earlier name), or None when every chunk starts from an empty group.

    ``index``: :func:`fingerprint_index`. For the disk-space preflight, before anything is written (a
    group with damaged metadata counts as empty here, although the run may keep some of its chunks).
    """
    if job.fingerprint not in index:
        return None
    for name in _with_twins(output, job, _candidates(output, job, index)):
        # (documents of another version: zarr reads them)
        if holds_documents_of(output, job, name) or _zarr_matches(store_path(output) / name, job):
            return name
    return None


def _with_twins(output: Path, job: Job, tried: list[str]) -> Iterator[str]:
    """``tried``, then (listed only if those are all passed over) the job's :func:`_twins`."""
    yield from tried
    yield from _twins(output, job.fingerprint, [*tried, job.name])


def _zarr_matches(folder: Path, job: Job) -> bool:
    import zarr

    try:
        return _matches(zarr.open_group(folder, mode="r", use_consolidated=False), job)
    except Exception:  # noqa: BLE001 - zarr raises many types for a damaged document
        return False


def repair_root(output: Path) -> str | None:
    """Rebuild the store's root metadata if it is damaged; returns a line saying so, or None.

    The root holds nothing but the consolidated metadata, which every run rewrites at its end.
    """
    folder = store_path(output)
    problem = node_problem(folder, "group") if folder.is_dir() else None
    if problem is None:
        return None
    (folder / "zarr.json").unlink(missing_ok=True)
    _open_root(output)  # writes fresh root metadata beside the job groups, which stay as they are
    return f"sweep.zarr/zarr.json: {problem}; rebuilt"


ROOT_DOCUMENT = {"attributes": {}, "zarr_format": 3, "node_type": "group"}
FRAMES_ATTRIBUTES = {"units": "ADU", "long_name": "camera counts"}


def _create_frames(group: zarr.Group, job: Job) -> None:
    height, width = job.config.camera.roi_shape
    # a shard holds whole chunks and is written by one task only: never two tasks into one shard
    # (zarr rewrites a whole shard for a partial write: parallel ones lose data, zarr-python #3682)
    shards = (job.shard_frames, height, width) if job.shard_frames else None
    group.create_array(
        FRAMES, shape=job.shape, chunks=(job.chunk_frames, height, width), shards=shards, dtype=job.dtype,
        compressors=frames_codec(), fill_value=0, dimension_names=("t", "y", "x"), attributes=FRAMES_ATTRIBUTES,
    )


def _create_derived(group: zarr.Group, name: str, array: tuple[np.ndarray, tuple[str, ...], dict]) -> None:
    data, dims, attrs = array
    group.create_array(name, data=data, dimension_names=dims, attributes=attrs, overwrite=True)


def _rebuild_metadata(output: Path, job: Job) -> Prepared:
    """Rebuild the damaged metadata files of the group under the job's name, keeping its chunk files.

    A damaged group document is rewritten with this job's attributes (whose group it was cannot be
    read any more), the frames' document from the job's layout; in both cases the chunk files are
    kept but count only where their checksums match this job's entries (``unsure``). Coordinates
    are derived data and are rewritten whole. A readable group of another job is left alone.
    """
    import zarr

    folder = store_path(output) / job.name
    if not folder.is_dir():
        return Prepared()
    rebuilt, unsure = [], False
    problem = node_problem(folder, "group")
    if problem:
        (folder / "zarr.json").unlink(missing_ok=True)
        zarr.create_group(folder, attributes=job_attrs(job), zarr_format=3)
        rebuilt.append(f"sweep.zarr/{job.name}/zarr.json: {problem}; rebuilt (chunks kept where their checksums match)")
        unsure = True
    group = zarr.open_group(folder, mode="r+", use_consolidated=False)
    if group.attrs.get("fingerprint") != job.fingerprint:
        return Prepared(rebuilt=tuple(rebuilt), unsure=unsure)
    problem = node_problem(folder / FRAMES, "array")
    if problem:
        (folder / FRAMES / "zarr.json").unlink(missing_ok=True)
        _create_frames(group, job)  # zarr writes the new array's document only: the chunk files stay
        rebuilt.append(f"sweep.zarr/{job.name}/{FRAMES}/zarr.json: {problem}; rebuilt "
                       "(chunks kept where their checksums match)")
        unsure = True
    for name, array in derived_arrays(job).items():
        problem = node_problem(folder / name, "array")
        if problem:
            _create_derived(group, name, array)
            rebuilt.append(f"sweep.zarr/{job.name}/{name}/zarr.json: {problem}; rebuilt")
    return Prepared(rebuilt=tuple(rebuilt), unsure=unsure)


def _template_key(job: Job) -> tuple | None:
    """What a new job group's files depend on besides the job's attributes (None: no template, the
    group holds per-job arrays such as the drift)."""
    if job.config.drift.active:
        return None
    return (job.shape, job.chunk_frames, job.shard_frames, str(job.dtype), job.pixel_size_um, job.frame_interval_s)


#: layout (:func:`_template_key`) -> :func:`_template_files` (a handful per sweep)
_TEMPLATES: dict[tuple, dict[str, bytes]] = {}


def _template_files(key: tuple, job: Job) -> dict[str, bytes]:
    """Every file zarr writes for a new group of this layout, by path inside the group, except the
    group's own ``zarr.json`` (which holds the job's attributes): the documents of :mod:`.documents`
    (zarr's bytes, tested), or made once by zarr itself, in memory, where those do not apply."""
    files = _document_files(key, job)
    if files is None:
        files = _remember(key, _zarr_files(job))
    return files


def _document_files(key: tuple, job: Job) -> dict[str, bytes] | None:
    """:func:`_template_files` where :mod:`.documents` writes the layout (no zarr), else None."""
    files = _TEMPLATES.get(key)
    if files is None:
        files = _documents(job)
        if files is not None:
            _remember(key, files)
    return files


def _remember(key: tuple, files: dict[str, bytes]) -> dict[str, bytes]:
    if len(_TEMPLATES) > 64:
        _TEMPLATES.clear()
    _TEMPLATES[key] = files
    return files


def _documents(job: Job) -> dict[str, bytes] | None:
    files = {f"{FRAMES}/zarr.json": encode(frames_document(job.shape, job.dtype, job.chunk_frames, job.shard_frames,
                                                            FRAMES_ATTRIBUTES))}
    for name, (values, dims, attrs) in derived_arrays(job).items():
        coordinate = coordinate_files(values, dims, attrs)
        if coordinate is None:
            return None
        files.update((f"{name}/{path}", data) for path, data in coordinate.items())
    return files


def _zarr_files(job: Job) -> dict[str, bytes]:
    import zarr

    store = zarr.storage.MemoryStore()
    group = zarr.open_group(store, mode="w", zarr_format=3)
    _create_frames(group, job)
    for name, array in derived_arrays(job).items():
        _create_derived(group, name, array)
    prototype = zarr.core.buffer.default_buffer_prototype()
    return {path: zarr.core.sync.sync(store.get(path, prototype)).to_bytes()
            for path in zarr.core.sync.sync(_list(store)) if path != "zarr.json"}


async def _list(store) -> list[str]:
    return [path async for path in store.list()]


def _group_document(job: Job) -> bytes:
    """The group's ``zarr.json``: zarr's document (same keys, same order), without zarr's indentation
    (json's C encoder only serves unindented output; indenting the parameters cost ~1 ms per job)."""
    return json.dumps({"attributes": job_attrs(job), "zarr_format": 3, "node_type": "group"}, allow_nan=False).encode()


def new_group_deferrable(job: Job) -> bool:
    """Whether a new group of this job can be written later, by the task that renders the job
    (:func:`write_new_group`): one-chunk jobs with a template layout."""
    return len(job.chunks) == 1 and _template_key(job) is not None


def write_new_group(output: Path, job: Job) -> None:
    """Write a deferred new group (:func:`prepare_job` with ``defer``) unless it exists by now."""
    if not (store_path(output) / job.name).exists():
        _write_new_group(output, job)


def _write_new_group(output: Path, job: Job) -> bool:
    """Write a new job's group straight to disk from its layout's template (the bytes zarr writes,
    tested), 0.3 ms instead of ~15 ms through zarr for a small job; False when there is no template."""
    key = _template_key(job)
    if key is None:
        return False
    folder = store_path(output) / job.name
    for path, data in [("zarr.json", _group_document(job)), *_template_files(key, job).items()]:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return True


def holds_documents_of(output: Path, job: Job, name: str | None = None) -> bool:
    """Whether the group ``name`` (default: the job's) is this job's (its fingerprint) and every
    array's ``zarr.json`` is, byte for byte, the document this version writes for the job
    (:mod:`.documents`, or zarr's own for the layout): then zarr reads the group by construction,
    and a check of it needs no zarr. False for anything else (the reader then opens it through
    zarr, which names what is wrong)."""
    return _held_group_document(output, job, name or job.name) is not None


def _held_group_document(output: Path, job: Job, name: str) -> dict | None:
    """The group document of :func:`holds_documents_of`'s group ``name``, read once, or None."""
    key = _template_key(job)
    files = None if key is None else _document_files(key, job)
    if files is None:
        return None
    folder = store_path(output) / name
    group = node_document(folder, "group")[0]
    attributes = group.get("attributes") if group is not None else None
    if not isinstance(attributes, dict) or attributes.get("fingerprint") != job.fingerprint:
        return None
    try:
        held = all((folder / path).read_bytes() == data for path, data in files.items() if path.endswith("zarr.json"))
    except OSError:
        return None
    return group if held else None


def _move_aside(folder: Path, name: str, fingerprint: str, groups: dict[str, str]) -> None:
    """Move another job's group out of ``name`` (to ``<name>~<fingerprint>``), noting where in ``groups``."""
    aside = _aside(folder, name, fingerprint)
    os.replace(folder / name, aside)
    groups[fingerprint] = aside.name


def prepare_job(output: Path, job: Job, groups: dict[str, str] | None = None, defer: bool = False) -> Prepared:
    """Create (or keep) the job's group.

    A group with the same fingerprint under another name (the sweep was extended and the job's
    index changed) is moved to the new name first, so its finished chunks are kept. A group of
    another job under this name is moved aside (``<name>~<fingerprint>``), never deleted.
    ``groups`` (:func:`fingerprint_index`, kept up to date here) saves listing the whole store
    for every new job; without it the store is listed. ``defer``: a new group that
    :func:`new_group_deferrable` allows is not written here but by the job's task (``Prepared.deferred``).

    A kept group whose documents are those this version writes for the job is kept, moved and given
    the job's attributes without zarr (:func:`_keep_by_documents`); any other through zarr, one group
    at a time (never the store's root: its consolidated document grows with the jobs).
    """
    groups = fingerprint_index(output) if groups is None else groups
    folder = store_path(output)
    if not (folder / "zarr.json").exists():  # a new store (or one without its root): the root, as zarr writes it
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "zarr.json").write_bytes(encode(ROOT_DOCUMENT))
    if job.fingerprint not in groups and not (folder / job.name).exists() and (folder / "zarr.json").is_file():
        if defer and new_group_deferrable(job):
            return Prepared(deferred=True)
        if _write_new_group(output, job):  # a new job: nothing to keep, move aside or rebuild
            return Prepared()
    kept = _keep_by_documents(output, job, groups)
    if kept is not None:
        return kept
    import zarr

    repaired = _rebuild_metadata(output, job)
    moved_from = old_chunk_frames = None
    own = _zarr_group(folder / job.name)
    other = _fingerprint_at(folder / job.name) if own is not None else None
    if other not in (job.fingerprint, None):
        _move_aside(folder, job.name, other, groups)
        own = None
    if own is None and job.fingerprint in groups:
        for name in _with_twins(output, job, [groups[job.fingerprint]]):
            earlier = _zarr_group(folder / name)
            if earlier is not None and _matches(earlier, job):
                os.replace(folder / name, folder / job.name)
                groups[job.fingerprint] = job.name
                own, moved_from = _zarr_group(folder / job.name), name
                break
    if own is not None and _matches(own, job):
        own.attrs.update(job_attrs(job))
        return Prepared(moved_from=moved_from, rebuilt=repaired.rebuilt, unsure=repaired.unsure)
    if own is not None:  # the same job with another chunk layout: its chunks are recomputed
        old = own.attrs
        old_chunk_frames = int(old.get("shard_frames") or old.get("chunk_frames") or 0) or None
        shutil.rmtree(folder / job.name)
    group = zarr.create_group(folder / job.name, attributes=job_attrs(job), zarr_format=3)
    _create_frames(group, job)
    for name, array in derived_arrays(job).items():
        _create_derived(group, name, array)
    return Prepared(old_chunk_frames=old_chunk_frames, rebuilt=repaired.rebuilt)


def _zarr_group(folder: Path):
    """The zarr group at ``folder`` (read-write), or None where there is none zarr can open."""
    import zarr

    if not folder.is_dir():
        return None
    try:
        return zarr.open_group(folder, mode="r+", use_consolidated=False)
    except Exception:  # noqa: BLE001 - zarr raises many types for a damaged document
        return None


def _keep_by_documents(output: Path, job: Job, groups: dict[str, str]) -> Prepared | None:
    """:func:`prepare_job` for a job whose kept group (its own, or its fingerprint's under an earlier
    name) holds, byte for byte, the documents this version writes for it (:func:`holds_documents_of`):
    intact by construction, so nothing to rebuild, and no zarr (~70 ms per job through the store's
    root at 10^3 jobs, growing with them). None where another path decides (a group of another
    version, damaged, or a name held by an unreadable group)."""
    folder = store_path(output)
    held = ((name, document) for name in _candidates(output, job, groups)
            if (document := _held_group_document(output, job, name)) is not None)
    name, current = next(held, (None, None))
    if name is None:
        return None
    moved_from = None
    if name != job.name:
        if (folder / job.name).exists():
            other = _fingerprint_at(folder / job.name)
            if other is None or other == job.fingerprint:
                return None
            _move_aside(folder, job.name, other, groups)
        os.replace(folder / name, folder / job.name)
        groups[job.fingerprint], moved_from = job.name, name
    wanted = _group_document(job)
    if current != json.loads(wanted):  # (the attributes follow the job's name and varied values)
        atomic.write_bytes(folder / job.name / "zarr.json", wanted)
    return Prepared(moved_from=moved_from)


def require_store(output: Path) -> None:
    """UserError when the folder holds no store at all (not a sweep output, or never run)."""
    if not store_path(output).is_dir():
        raise UserError(f"{output}: no sweep.zarr (not a sweep output folder, or never run)")


def group_names(output: Path, pattern: str | None = None) -> list[str]:
    """Names of the job groups of an output folder (those matching a shell pattern, if given).

    One line (:class:`~.metadata.DamagedMetadata`) when the store's root metadata is damaged;
    groups with damaged metadata are listed (their readers say what is wrong with them).
    """
    require_store(output)
    check_root(output)
    names = group_folders(output)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not names:
            raise UserError(f"--jobs '{pattern}' matches none of the jobs in {output}")
    return names


def job_groups(output: Path) -> dict[str, zarr.Group]:
    """Every job group in the store whose metadata is intact (live view, not the consolidated one).

    Groups are opened one by one, not through the root, so a damaged root or group hides only itself
    (:func:`~.metadata.damaged_metadata` lists what is skipped).
    """
    names = group_folders(output)
    if not names:
        return {}  # (a new store: no zarr needed)
    import zarr

    groups = {}
    for name in names:
        try:
            group = zarr.open_group(store_path(output) / name, mode="r", use_consolidated=False)
            group[FRAMES]  # (its metadata must be readable too; coordinates are not needed to list it)
        except Exception:  # noqa: BLE001 - zarr raises many types for a damaged document
            continue
        groups[name] = group
    return groups


def _consolidated_document(output: Path) -> bytes | None:
    """The root's ``zarr.json`` with every job group's and array's metadata inlined, as
    ``zarr.consolidate_metadata`` makes it (tested equal), from one JSON read per node instead of
    zarr opening each one (~6 ms per job); None when some node is not a plain v3 document (then
    zarr's own consolidation decides, and says what is damaged).

    Paths are strings and the cyclic garbage collector waits: the document holds ~50 objects per
    node, and its passes over them took a third of the time for 3 000 jobs."""
    root = str(store_path(output))
    top = node_document(root, "group")[0]
    if top is None or not isinstance(top.get("attributes", {}), dict):
        return None
    metadata = {}
    collecting = gc.isenabled()
    gc.disable()
    try:
        for name in group_folders(output):
            folder = os.path.join(root, name)
            group = node_document(folder, "group")[0]
            if group is None:
                return None
            metadata[name] = {"attributes": group.get("attributes", {}), "zarr_format": 3,
                              "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": {}},
                              "node_type": "group"}
            with os.scandir(folder) as entries:
                children = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
            for child in children:
                array, problem = node_document(os.path.join(folder, child), "array")
                if problem and not os.path.isfile(os.path.join(folder, child, "zarr.json")):
                    continue  # (a folder without a metadata file is no node of the group)
                if array is None:
                    return None
                metadata[f"{name}/{child}"] = array
        document = {"attributes": top.get("attributes", {}), "zarr_format": 3,
                    "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": metadata},
                    "node_type": "group"}
        # (compact: json's C encoder, seconds faster for 10^4 jobs)
        return json.dumps(document, allow_nan=False).encode()
    finally:
        if collecting:
            gc.enable()


def consolidate(output: Path) -> str | None:
    """Consolidated metadata, so xarray opens any group in one read and without a warning.

    With a damaged node in the store (a group that is no job of the run) nothing is consolidated and
    the root keeps no consolidated copy that could be stale; returns a line saying so, else None.
    """
    import warnings

    if node_document(store_path(output), "group")[1]:
        return None
    document = _consolidated_document(output)
    if document is not None:
        atomic.write_bytes(store_path(output) / "zarr.json", document, durable=False)
        return None
    import zarr  # (here: the documents of a sound store are consolidated without it)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "consolidated metadata is not part of the v3 spec (yet)"
            zarr.consolidate_metadata(store_path(output))
        return None
    except Exception:  # noqa: BLE001 - zarr raises many types for a damaged document
        damaged = [str(d.path.relative_to(output)) for d in damaged_metadata(output)]
    (store_path(output) / "zarr.json").unlink()
    _open_root(output)
    return (f"sweep.zarr: metadata not consolidated, damaged metadata of groups that are no job of this run "
            f"({', '.join(damaged) or 'unknown'}): remove them, or run the sweep they belong to")
