"""Random and Latin-hypercube designs (``[random]``): ``n`` draws of named parameters.

Each draw gives every parameter a number ``u`` in [0, 1), which the parameter's distribution turns
into a value through its inverse CDF (uniform, log-uniform, normal truncated to [low, high], or
the index of a choice). Where ``u`` comes from is the method:

``"random"``
    ``u`` of draw ``i`` of parameter ``p`` is number ``i % 1024`` of the 1024 that the stream
    ``kernels.rng.generator(key_words(seed, "random-design"), p, frame=i // 1024)`` gives: a
    function of the sweep seed, the parameter's dotted key and the draw index alone. More draws
    (n -> 2n) keep the first n draws' values, and adding or removing a parameter keeps the other
    parameters' values.
``"lhs"``
    Latin hypercube: for each parameter, the stream ``generator(key_words(seed,
    "random-design/lhs/n=<n>"), p)`` permutes the n strata [k/n, (k+1)/n) over the draws and places
    each draw uniformly inside its stratum, so every stratum holds exactly one draw. The strata
    depend on n: another n draws other values (every job changes).

Integer parameters (a key whose field is an integer, e.g. ``emitters.num_emitters``) get integer
values: uniform = the floor of a uniform draw on [low, high + 1), i.e. every integer of [low, high]
equally likely; log-uniform = the floor of a log-uniform draw on [low, high + 1), so k has
probability log((k+1)/k) / log((high+1)/low); normal = the nearest integer of the (truncated)
draw. Their low and high must be integers. Under LHS the strata are those of the continuous draw
before the floor: over [low, high + 1) for a uniform integer.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pydantic

from kernels.rng import generator, key_words

from ..config import JobConfig
from ..config.models import Draw, RandomSection
from ..config.reference import bare_type, field_allowed, leaf_keys
from ..errors import UserError, did_you_mean

#: method "random": draw i of a parameter is number i % RANDOM_BLOCK of the block i // RANDOM_BLOCK,
#: a stream of its own that is always drawn whole (one stream per draw would cost 30 µs a draw)
RANDOM_BLOCK = 1024
#: a normal truncated to a range that holds less than this of its probability is refused: its
#: inverse CDF would lose its precision in the far tail (use a uniform there)
MIN_NORMAL_MASS = 1e-6


@dataclass(frozen=True)
class DrawInfo:
    """Where a job's drawn values came from: draw ``index`` of a design of ``n`` draws."""

    index: int
    n: int
    method: str
    keys: tuple[str, ...]

    def as_json(self) -> dict:
        return {"index": self.index, "n": self.n, "method": self.method, "keys": list(self.keys)}


def _field(dotted: str) -> tuple[type[pydantic.BaseModel], str]:
    section, name = dotted.split(".", 1)
    return JobConfig.model_fields[section].annotation, name


def parameter_kind(dotted: str) -> str:
    """``"integer"``, ``"number"`` or ``"other"`` (strings, flags, tables: choice only) for a key of [base]."""
    model, name = _field(dotted)
    annotation = bare_type(model.model_fields[name].annotation)
    if annotation is int:
        return "integer"
    return "number" if annotation is float else "other"


def _check_value(dotted: str, what: str, value: Any, file: str) -> None:
    """Refuse a value the key's own field refuses (its type and range; rules across keys are the jobs')."""
    model, name = _field(dotted)
    info = model.model_fields[name]
    try:
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        pydantic.TypeAdapter(annotation).validate_python(value)
    except pydantic.ValidationError as exc:
        msg = exc.errors()[0]["msg"]
        raise UserError(f"{file}: random {dotted} {what} = {value!r}: {msg}; allowed: {field_allowed(model, name)}") from None


def check_design(section: RandomSection, file: str, grid_keys: dict[str, str]) -> None:
    """Refuse what no draw could make valid: unknown keys, a distribution the key's type cannot take.

    ``grid_keys`` maps the keys of [variables] and [[zip]] to where they are varied (a key is
    drawn or varied, not both).
    """
    valid = set(leaf_keys(JobConfig))
    if not section.parameters:
        raise UserError(f"{file}: [random] names no parameter; add one such as \"camera.background\" = "
                        f"{{ distribution = \"log-uniform\", low = 5.0, high = 200.0 }}")
    for dotted, draw in section.parameters.items():
        if dotted not in valid:
            raise UserError(f"{file}: random key '{dotted}' is not a parameter of [base]{did_you_mean(dotted, valid)}")
        if dotted in grid_keys:
            raise UserError(f"{file}: '{dotted}' is varied both in random and in {grid_keys[dotted]}")
        kind = parameter_kind(dotted)
        if draw.distribution == "choice":
            for value in draw.values:
                _check_value(dotted, "value", value, file)
            continue
        if kind == "other":
            raise UserError(f'{file}: random {dotted}: distribution "{draw.distribution}" needs a numeric key, and '
                            f"{dotted} is {field_allowed(*_field(dotted))}; use distribution = \"choice\"")
        for end in ("low", "high"):
            value = getattr(draw, end)
            if value is None:
                continue
            if kind == "integer" and not value.is_integer():
                raise UserError(f"{file}: random {dotted} {end} = {value!r}: {dotted} is an integer key, so low and "
                                f"high must be integers (the draws are integers of [low, high])")
            _check_value(dotted, end, int(value) if kind == "integer" else value, file)
        if draw.distribution == "normal":
            mass = _normal_cdf(draw, draw.high, 1.0) - _normal_cdf(draw, draw.low, 0.0)
            if not mass >= MIN_NORMAL_MASS:
                raise UserError(f"{file}: random {dotted}: a normal of mean {draw.mean!r} and std {draw.std!r} holds "
                                f"{mass:.2g} of its probability in [low, high] = [{_end(draw.low, '-inf')}, {_end(draw.high, 'inf')}]; allowed: "
                                f"at least {MIN_NORMAL_MASS:g} (for a range far in the tail use a uniform)")


def _end(value: float | None, unset: str) -> str:
    return unset if value is None else repr(value)


def _normal_cdf(draw: Draw, x: float | None, default: float) -> float:
    from scipy.special import ndtr

    return default if x is None else float(ndtr((x - draw.mean) / draw.std))


def unit_draws(seed: int, keys: typing.Sequence[str], n: int, method: str) -> dict[str, np.ndarray]:
    """The numbers ``u`` in [0, 1) of ``n`` draws of each key (module docstring: which stream gives which)."""
    out = {}
    for key in keys:
        if method == "random":
            # whole blocks, whatever n: draw i never depends on n, nor on the other keys
            base = key_words(seed, "random-design")
            blocks = [generator(base, key, frame=b).random(RANDOM_BLOCK) for b in range(-(-n // RANDOM_BLOCK))]
            out[key] = np.concatenate(blocks)[:n]
        elif method == "lhs":
            g = generator(key_words(seed, f"random-design/lhs/n={n}"), key)
            strata = g.permutation(n)
            out[key] = (strata + g.random(n)) / n
        else:
            raise ValueError(f"method must be 'random' or 'lhs', got {method!r}")
    return out


def values_of(draw: Draw, u: np.ndarray, integer: bool) -> list:
    """The values of one parameter for the numbers ``u`` in [0, 1): Python ints, floats or choice values."""
    u = np.asarray(u, dtype=np.float64)
    if draw.distribution == "choice":
        index = np.minimum((u * len(draw.values)).astype(np.int64), len(draw.values) - 1)
        return [draw.values[i] for i in index]
    low, high = draw.low, draw.high
    if integer and draw.distribution in ("uniform", "log-uniform"):
        high = high + 1  # the floor of [low, high + 1) is an integer of [low, high]
    if draw.distribution == "uniform":
        x = low + u * (high - low)
    elif draw.distribution == "log-uniform":
        x = np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:  # normal, truncated to [low, high] by drawing u between the CDF at both ends
        lo, hi = _normal_cdf(draw, low, 0.0), _normal_cdf(draw, high, 1.0)
        from scipy.special import ndtri  # (here: 0.25 s of import that only a normal draw needs)

        x = draw.mean + draw.std * ndtri(lo + u * (hi - lo))
        x = np.clip(x, -np.inf if low is None else low, np.inf if high is None else high)  # rounding at the ends
    if not integer:
        return [float(v) for v in x]
    k = np.rint(x) if draw.distribution == "normal" else np.floor(x)
    k = np.clip(k, draw.low if draw.low is not None else -np.inf, draw.high if draw.high is not None else np.inf)
    return [int(v) for v in k]


def draw_design(section: RandomSection, seed: int) -> list[dict[str, Any]]:
    """The ``section.n`` draws: one dict (dotted key -> value, in the file's order) per draw."""
    params = section.parameters
    u = unit_draws(seed, list(params), section.n, section.method)
    columns = {key: values_of(draw, u[key], parameter_kind(key) == "integer") for key, draw in params.items()}
    return [{key: columns[key][i] for key in params} for i in range(section.n)]
