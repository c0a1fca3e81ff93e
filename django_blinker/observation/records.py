"""What a process's record in the activity store may look like, checked on read: anything
else found there (another program's key, a forged entry) is left out rather than break
the admin's pages (:mod:`django_blinker.observation.store`)."""

from __future__ import annotations

from typing import Any

_TEXT = {"id", "host", "role"}
_TIMES = {"started", "last_seen"}
_FIGURES = {"sends", "last_sent", "calls", "errors", "timed_calls", "timed_seconds"}
_FIGURES |= {"max_seconds", "last", "interval", "pid", "failed_flushes", "skipped"}


def well_formed(record: Any, now: float) -> bool:
    """Whether ``record`` has the shape :func:`_record` writes, with plausible numbers:
    anything else in the store (another program's key, a forged entry) is left out
    rather than break the admin's pages."""
    if not isinstance(record, dict) or not all(
        isinstance(record.get(key), str) and len(record[key]) <= 300 for key in _TEXT
    ):
        return False
    if not all(_number(record.get(key), 0, now + 86_400) for key in _TIMES):
        return False
    if not isinstance(record.get("exited", False), bool):
        return False
    signals = record.get("signals") or {}
    if not isinstance(signals, dict):
        return False
    for name, figures in signals.items():
        if not isinstance(name, str) or len(name) > 300 or not isinstance(figures, dict):
            return False
        for kind in ("receivers", "runs"):
            found = figures.get(kind) or {}
            if not isinstance(found, dict) or not all(
                isinstance(name, str) and isinstance(totals, dict) for name, totals in found.items()
            ):
                return False
            if not all(_figures(totals, now) for totals in found.values()):
                return False
        if not _figures({k: v for k, v in figures.items() if k not in ("receivers", "runs")}, now):
            return False
    return _figures({key: record.get(key, 0) for key in ("pid", "interval", "failed_flushes")}, now)


def _figures(values: dict[str, Any], now: float) -> bool:
    return all(key in _FIGURES and _number(value, 0, 1e15) for key, value in values.items())


def _number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
