"""Checks a run makes before it writes anything: output folder, input files, scheduler, disk space;
and the rule for which chunks are done, which the run and its disk-space check share.

Each refusal is a :class:`~pipeline.errors.UserError` (one line, exit code 2).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..plan import Job, Plan
from ..scene import check_inputs as check_job_inputs
from ..store import CacheDir, chunk_key, fingerprint_index, holds_chunk, kept_group, same_frames, stored_chunks
from ..table import human_bytes


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


#: how to give the run dask's TLS settings (README: Scaling out)
TLS_SETTINGS = ("dask's distributed.comm.tls.ca-file, .client.cert and .client.key (e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT, DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY)")


def check_scheduler(address: str) -> None:
    """An existing scheduler must answer, in its protocol, before anything is written.

    First a plain TCP connection (a dead address fails at once), then distributed's own handshake
    with the client's security settings (dask's config), as the run's client will connect: a
    tls:// scheduler without TLS settings or with a certificate it does not trust, or a tcp://
    address of a TLS scheduler, is refused here as one line instead of a traceback later.
    """
    import asyncio
    import socket
    from urllib.parse import urlparse

    from distributed.comm import connect
    from distributed.security import Security

    if not address.startswith(("tcp://", "tls://")):
        return  # other protocols: connecting is the only check
    url = urlparse(address)
    try:
        socket.create_connection((url.hostname, url.port), timeout=10).close()
    except (OSError, ValueError) as exc:
        raise UserError(f"scheduler {address} does not answer ({exc}); start it or fix --scheduler/cluster.address") from None
    tls = address.startswith("tls://")
    try:
        args = Security().get_connection_args("client")
    except (OSError, ValueError) as exc:  # a certificate or key file that is missing or not PEM
        raise UserError(f"scheduler {address}: dask's TLS settings do not load ({exc}); set {TLS_SETTINGS}") from None
    if tls and args["ssl_context"] is None:
        raise UserError(f"scheduler {address}: a tls:// scheduler needs the client's TLS settings: {TLS_SETTINGS}")

    async def handshake() -> None:
        comm = await connect(address, timeout="10s", **args)
        await comm.close()

    try:
        asyncio.run(handshake())
    except Exception as exc:  # noqa: BLE001 - whatever fails here, the run could not have used the scheduler
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        hint = f"check {TLS_SETTINGS}" if tls else f"if it is a TLS scheduler, use tls:// and set {TLS_SETTINGS}"
        raise UserError(f"scheduler {address} refused the connection ({reason}); {hint}") from None


def check_output(output: Path, from_command_line: bool) -> None:
    """The output folder must be creatable and writable (``--output``'s parent must exist)."""
    if output.exists() and not output.is_dir():
        raise UserError(f"output {output} exists and is not a folder")
    if from_command_line and not output.parent.is_dir():
        raise UserError(f"--output {output}: parent folder {output.parent} does not exist")
    anchor = _existing_ancestor(output)
    try:  # os.access says yes to root even where the file system refuses (read-only mounts, /proc)
        with tempfile.TemporaryFile(dir=anchor):
            pass
    except OSError:
        raise UserError(f"output {output}: {anchor} is not writable") from None


def check_inputs(plan: Plan) -> None:
    """Every input file of every job exists and is valid for that job (else exit 2, path named)."""
    seen = set()
    for job in plan.jobs:
        if job.missing_inputs:
            raise UserError(f"input file {job.missing_inputs[0]} does not exist (needed by {job.name})")
        c = job.config
        key = (c.optics.zmap_path if c.optics.psf == "zernike" else "", c.camera.maps_path,
               c.emitters.positions_file, c.camera.roi_shape, c.emitters.density_file, c.emitters.source,
               c.emitters.frames)
        if key not in seen:
            seen.add(key)
            check_job_inputs(c)


@dataclass
class ChunkCheck:
    """Which chunks of a job are done (with their entries) and which are still to compute."""

    done: dict[tuple[int, int], dict] = field(default_factory=dict)
    todo: list[tuple[int, int]] = field(default_factory=list)
    #: chunks whose entry exists but whose files are no longer what it says: why (the entry is stale)
    stale: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def entries(self) -> list[dict]:
        return list(self.done.values())


def check_chunks(job: Job, cache: CacheDir, stored: dict[int, int], resume: bool = True,
                 frames=None, keys: set[str] | None = None) -> ChunkCheck:
    """The rule for "this chunk is done" (design §7), for the run and for its disk-space preflight.

    A chunk is done when its entry is valid, the store holds its chunk file with the size the entry
    recorded (``stored``: :func:`~pipeline.store.stored_chunks`) and its ground truth matches the
    entry's checksum. ``frames`` (the job's zarr array): also decode each chunk and compare its
    checksum, for a group whose metadata was rebuilt.
    """
    check = ChunkCheck()
    for t0, t1 in job.chunks:
        # ``keys`` (:meth:`CacheDir.entry_keys`, listed once per run): a chunk without an entry file is not read
        listed = keys is None or chunk_key(job.fingerprint, t0, t1) in keys
        entry = cache.read_entry(job.fingerprint, t0, t1) if resume and listed else None
        why = None if entry is None else _stale(job, cache, entry, stored.get(t0 // job.unit_frames), frames)
        if entry is not None and why is None:
            check.done[(t0, t1)] = entry
            continue
        check.todo.append((t0, t1))
        if why:
            check.stale[(t0, t1)] = why
    return check


def _stale(job: Job, cache: CacheDir, entry: dict, size: int | None, frames) -> str | None:
    """Why an entry's chunk is not done after all, or None (cheapest checks first)."""
    if not holds_chunk(entry, size):
        return "chunk file missing from the store" if size is None else "chunk file of another size than recorded"
    if not cache.truth_matches(entry):
        return "ground truth missing or altered"
    if frames is not None:
        t0, t1 = entry["frames"]
        try:
            if not same_frames(frames[t0:t1], entry["checksum"]):
                return "frames differ from their checksum"
        except Exception:  # noqa: BLE001 - a chunk that no longer decodes
            return "chunk file unreadable"
    return None


def bytes_to_write(plan: Plan, cache: CacheDir, resume: bool = True) -> int:
    """What the run still has to write: store + OME-TIFF of the chunks without an entry, uncompressed."""
    need, output = 0, Path(cache.output)
    groups = fingerprint_index(output)
    keys = cache.entry_keys()
    for job in plan.jobs:
        kept = kept_group(output, job, groups)
        stored = stored_chunks(output, kept) if kept else {}
        frames = sum(t1 - t0 for t0, t1 in check_chunks(job, cache, stored, resume, keys=keys).todo)
        need += 2 * frames * job.nbytes // job.frames
    return need


def free_bytes(output: Path) -> int:
    return shutil.disk_usage(_existing_ancestor(output)).free


def check_disk(plan: Plan, output: Path, cache: CacheDir, resume: bool, force: bool) -> None:
    """Refuse when the store + OME-TIFF of the remaining chunks (uncompressed) exceed the free space."""
    need = bytes_to_write(plan, cache, resume)
    free = free_bytes(output)
    if need > free and not force:
        raise UserError(f"output {output}: the sweep needs up to {human_bytes(need)} (store + OME-TIFF, "
                        f"uncompressed) but only {human_bytes(free)} is free; use --force to run anyway")


def preflight(plan: Plan, output: Path, address: str, resume: bool, force: bool, output_given: bool) -> None:
    """Everything that can be refused before the first byte is written."""
    check_output(output, from_command_line=output_given)
    check_inputs(plan)
    if address:
        check_scheduler(address)
    check_disk(plan, output, CacheDir(output), resume, force)
