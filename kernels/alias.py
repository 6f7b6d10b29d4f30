"""Walker/Vose alias tables: draw from a fixed discrete distribution in O(1) per sample.

One 64-bit random word per sample: the top ``bits`` pick a cell of the (power-of-two) table,
the low 32 bits decide between the cell's own value and its alias. The cell thresholds are
rounded to multiples of 2⁻³², so each probability is reproduced to within 2⁻³²·(1/K) — far
below any statistical test's reach, and stated in :attr:`AliasTable.max_error`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AliasTable"]

_BLOCK = 1 << 13  # samples per pass: temporaries stay in cache and below malloc's mmap threshold


@dataclass(frozen=True, eq=False)
class AliasTable:
    """A discrete distribution over the integers ``offset + i``, ready to sample.

    Build with :meth:`from_pmf`.
    """

    bits: int
    threshold: np.ndarray  # (2**bits,) uint64: keep the cell's own value when low32 < threshold
    value: np.ndarray      # (2**bits,) uint16: offset + cell index
    alias: np.ndarray      # (2**bits,) uint16: offset + alias index

    @property
    def max_error(self) -> float:
        """Largest absolute error of any outcome's probability (threshold rounding)."""
        return 2.0**-32

    @classmethod
    def from_pmf(cls, pmf: np.ndarray, offset: int) -> AliasTable:
        """Vose's alias method on ``pmf`` (normalized here) over values ``offset .. offset+len-1``.

        Values must fit uint16 (they are camera counts).
        """
        pmf = np.asarray(pmf, dtype=np.float64)
        if pmf.ndim != 1 or pmf.size == 0 or np.any(pmf < 0) or not np.isfinite(pmf).all():
            raise ValueError("pmf must be a non-empty 1-D array of finite probabilities >= 0")
        if offset < 0 or offset + pmf.size - 1 > np.iinfo(np.uint16).max:
            raise ValueError("values must lie in 0..65535")
        bits = max(1, int(np.ceil(np.log2(pmf.size))))
        cells = 1 << bits
        scaled = np.zeros(cells)
        scaled[: pmf.size] = pmf / pmf.sum() * cells  # padding cells have probability 0
        prob = np.ones(cells)
        alias = np.arange(cells)
        small = [i for i in range(cells) if scaled[i] < 1.0]
        large = [i for i in range(cells) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        # leftovers are 1 up to rounding: they keep their own value
        threshold = np.minimum(np.round(prob * 2.0**32), 2.0**32).astype(np.uint64)
        values = np.arange(cells)
        # padding cells never keep their own value (threshold 0 unless rounding left them at 1)
        values = np.where(values < pmf.size, values, alias)
        return cls(bits=bits, threshold=threshold, value=(offset + values).astype(np.uint16),
                   alias=(offset + alias).astype(np.uint16))

    def probabilities(self) -> tuple[int, np.ndarray]:
        """(offset, pmf) that the table actually samples (for tests)."""
        cells = 1 << self.bits
        keep = self.threshold.astype(np.float64) / 2.0**32
        lo = int(min(self.value.min(), self.alias.min()))
        pmf = np.zeros(int(max(self.value.max(), self.alias.max())) - lo + 1)
        np.add.at(pmf, self.value.astype(np.int64) - lo, keep / cells)
        np.add.at(pmf, self.alias.astype(np.int64) - lo, (1.0 - keep) / cells)
        return lo, pmf

    def sample(self, rng: np.random.Generator, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """``n`` draws as uint16, using ``n`` raw 64-bit words of ``rng``."""
        out = np.empty(n, dtype=np.uint16) if out is None else out
        shift = np.uint64(64 - self.bits)
        low = np.uint64(0xFFFFFFFF)
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            raw = rng.bit_generator.random_raw(stop - start)
            cell = (raw >> shift).astype(np.intp)
            raw &= low
            keep = raw < self.threshold[cell]
            np.copyto(out[start:stop], np.where(keep, self.value[cell], self.alias[cell]))
        return out
