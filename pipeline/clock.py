"""The one timestamp format of every file an output records (status, cache entries, exports, lock)."""

from __future__ import annotations

import time


def now() -> str:
    """Local time, ISO 8601 with the UTC offset: ``2026-12-01T15:38:15+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
