"""``status.json``: the state of every job of a run, rewritten atomically so it is readable any time."""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..clock import now
from ..table import format_table


def error_record(exc: BaseException, tb=None) -> dict:
    """A failure as status.json records it: type, first line of the message, traceback, time."""
    lines = traceback.format_exception(type(exc), exc, tb if tb is not None else exc.__traceback__)
    return {"type": type(exc).__name__, "message": str(exc).splitlines()[0] if str(exc) else "",
            "traceback": "".join(lines), "time": now()}


@dataclass
class JobStatus:
    name: str
    fingerprint: str
    chunks_total: int
    state: str = "pending"  # pending | running | done | failed | interrupted
    chunks_done: int = 0
    chunks_computed: int = 0
    chunks_reused: int = 0
    frames: int = 0
    seconds: float = 0.0
    exported: bool = False
    error: dict | None = None

    def fail(self, exc: BaseException, tb=None) -> None:
        self.state = "failed"
        self.error = error_record(exc, tb)


@dataclass
class RunStatus:
    sweep: str
    output: str
    jobs: dict[str, JobStatus]
    state: str = "running"  # running | done | failed | interrupted | crashed
    signal: str | None = None  # interrupted: the signal that stopped the run ("SIGINT", "SIGTERM", "SIGHUP")
    started: str = field(default_factory=now)
    finished: str | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    stale: list[str] = field(default_factory=list)
    error: dict | None = None
    others: list[dict] = field(default_factory=list)  # jobs of the sweep outside a --jobs subset, as last recorded
    subset: str | None = None  # the --jobs pattern of a run of some of the sweep's jobs
    _lines: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # save's encoded records

    @property
    def path(self) -> Path:
        return Path(self.output) / "status.json"

    def interrupt(self, signal_name: str) -> None:
        """Record a stop by a signal: the unfinished jobs are "interrupted" (a new run resumes them)."""
        self.state, self.signal, self.finished = "interrupted", signal_name, now()
        for js in self.jobs.values():
            if js.state in ("pending", "running"):
                js.state = "interrupted"
        self.save()

    def save(self) -> None:
        """Rewrite status.json (atomic rename, not fsynced): one line per job record.

        Built field by field and encoded by json's C encoder (``dataclasses.asdict`` and an indented
        dump cost ~0.4 ms per job, which for 10^4 jobs made every save take seconds); a job's line is
        encoded again only when its record changed (a save of 10^4 jobs re-encoding all of them took
        0.1-0.16 s, and :class:`SaveSchedule` lets the saves take up to 1 / cost_factor of the run).
        """
        head = {name: getattr(self, name) for name in _RUN_FIELDS}
        dumps = functools.partial(json.dumps, default=str)
        records = [(("job", job.name), vars(job), True) for job in self.jobs.values()]
        records += [(("other", i), record, False) for i, record in enumerate(self.others)]
        cache, lines = {}, []
        for slot, record, in_run in records:
            # (values, with a copy of any dict: an error record changed in place is a change too)
            key = tuple(dict(v) if isinstance(v, dict) else v for v in record.values())
            cached = self._lines.get(slot)
            if cached is None or cached[0] != key:
                cached = (key, dumps({**record, "in_run": in_run}))
            cache[slot] = cached
            lines.append((record["name"], cached[1]))
        self._lines = cache
        lines.sort(key=lambda line: line[0])  # (stable: jobs, then others, for one name)
        body = dumps(head)[:-1] + ', "jobs": [\n' + ",\n".join(line for _, line in lines) + "\n]}\n"
        atomic.write_bytes(self.path, body.encode(), durable=False)


#: the run's own fields in status.json, in this order (``jobs`` follows)
_RUN_FIELDS = ("sweep", "output", "state", "signal", "started", "finished", "pid", "host", "stale", "error", "subset")


class SaveSchedule:
    """When the run rewrites status.json while tasks finish: at most every ``interval_s`` seconds,
    and never more often than every ``cost_factor`` times what the last save took.

    A save writes every job's record, O(jobs); spacing the saves by a multiple of their cost
    keeps status.json's share of the run process's time below 1 / ``cost_factor`` whatever the
    number of jobs or how fast chunks finish.
    """

    def __init__(self, interval_s: float = 0.5, cost_factor: float = 100.0, clock=time.monotonic):
        self.interval_s, self.cost_factor, self.clock = interval_s, cost_factor, clock
        self.last, self.cost = -math.inf, 0.0

    def due(self) -> bool:
        return self.clock() - self.last >= max(self.interval_s, self.cost_factor * self.cost)

    def save(self, status: RunStatus) -> None:
        """Save now and remember when and how long it took."""
        start = self.clock()
        status.save()
        self.last = self.clock()
        self.cost = self.last - start


#: what every reader of a job record relies on (status_table, a run keeping records of other jobs)
_JOB_FIELDS = {"name": str, "state": str, "chunks_total": int, "chunks_done": int, "chunks_computed": int,
               "chunks_reused": int, "seconds": (int, float)}


def read_status(output: Path) -> tuple[dict | None, str | None]:
    """(status.json's content, None) when it is sound; (None, what is wrong in one line) when it
    is damaged; (None, None) when it is missing. Read and parsed once.

    Valid JSON of another shape counts as damaged too: ``status`` reports it, ``run`` rebuilds it.
    """
    path = Path(output) / "status.json"
    if not path.exists():
        return None, None
    data = atomic.read_json(path)
    problem = _shape_problem(data)
    return (None, problem) if problem else (data, None)


def _shape_problem(data) -> str | None:
    """What is wrong with status.json's parsed content (``data`` None: it was not valid JSON), or None."""
    if data is None:
        return "not valid JSON"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("jobs", []), list):
        return "'jobs' is not a list"
    stale = data.get("stale", [])
    if not isinstance(stale, list) or not all(isinstance(name, str) for name in stale):
        return "'stale' is not a list of names"
    for i, job in enumerate(data.get("jobs", [])):
        if not isinstance(job, dict):
            return f"job record {i} is not an object"
        for key, kind in _JOB_FIELDS.items():
            if not isinstance(job.get(key), kind) or isinstance(job.get(key), bool):
                return f"job record {i} has no valid {key!r}"
        if not isinstance(job.get("error"), (dict, type(None))):
            return f"job record {i} has no valid 'error'"
    return None


def status_table(data: dict) -> str:
    rows = []
    for job in data.get("jobs", []):
        error = job.get("error") or {}
        reason = f"{error.get('type')}: {error.get('message')}" if error else ""
        rows.append([job["name"], job["state"], f"{job['chunks_done']}/{job['chunks_total']}",
                     job["chunks_computed"], job["chunks_reused"], "yes" if job.get("exported") else "no",
                     f"{job['seconds']:.1f}", reason])
    table = format_table(["job", "state", "chunks", "computed", "reused", "exported", "seconds", "error"], rows)
    state = f"{data.get('state')} by {data['signal']}" if data.get("signal") else data.get("state")
    lines = [f"sweep {data.get('sweep')!r} in {data.get('output')}: {state} "
             f"(started {data.get('started')}, finished {data.get('finished') or '-'})", table]
    if data.get("subset"):
        ran = sum(1 for job in data.get("jobs", []) if job.get("in_run", True))
        lines.insert(1, f"the last run was a --jobs {data['subset']!r} subset: {state} for {ran} of "
                        f"{len(data.get('jobs', []))} jobs (the others as last recorded)")
    for name in data.get("stale", []):
        lines.append(f"stale: {name} (in the store, no longer in the sweep; left in place)")
    return "\n".join(lines)
