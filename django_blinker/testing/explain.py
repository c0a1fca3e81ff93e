"""Failure messages of the assertions: what was expected, what was sent, how each differs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from blinker import ANY, Signal

from .sent import Sent, describe, equal

_LISTED = 25


def explain(
    headline: str,
    label: str,
    chosen: Sequence[Signal],
    everything: Sequence[Sent],
    matches: Callable[[Any], bool],
    sender: Any,
    kwargs: Mapping[str, Any],
) -> str:
    """``headline``, then every send of the ``chosen`` signals, numbered among
    ``everything`` recorded, each with how it differs from what was expected."""
    relevant = [(number, s) for number, s in enumerate(everything, 1) if s.signal in chosen]
    lines = [headline]
    if not everything:
        lines.append("Nothing was sent while recording.")
    elif not relevant:
        lines.append(f"{label} was not sent at all.")
    else:
        lines.append(f"Sent while recording ({len(relevant)} of {len(everything)}):")
        for number, sent in relevant[:_LISTED]:
            lines.append(f"  {number}. {sent}")
            differences = _differences(matches, sender, kwargs, sent)
            lines.append(f"     {'differs: ' + differences if differences else 'matches'}")
        if len(relevant) > _LISTED:
            lines.append(f"  ... and {len(relevant) - _LISTED} more")
    others = Counter(s.signal_name for s in everything if s.signal not in chosen)
    if others:
        summary = ", ".join(f"{name} x{count}" for name, count in others.items())
        lines.append(f"Also recorded: {summary}.")
    return "\n".join(lines)


def _differences(
    matches: Callable[[Any], bool], sender: Any, expected: Mapping[str, Any], sent: Sent
) -> str:
    found = []
    if not matches(sent.sender):
        found.append(f"sender is {describe(sent.sender)}, not {describe(sender)}")
    for key, value in expected.items():
        if key not in sent.kwargs:
            found.append(f"no {key!r} was sent")
        elif not equal(value, sent.kwargs[key]):
            found.append(f"{key} is {describe(sent.kwargs[key])}, not {describe(value)}")
    return "; ".join(found)


def expectation(label: str, sender: Any, kwargs: Mapping[str, Any]) -> str:
    """The expected send in words: ``post_save with sender=testapp.Book, created=True``."""
    parts = [] if sender is ANY else [f"sender={describe(sender)}"]
    parts += [f"{key}={describe(value)}" for key, value in kwargs.items()]
    return f"{label} with {', '.join(parts)}" if parts else label


def times_in_words(count: int) -> str:
    """``1 time``, ``3 times``."""
    return "1 time" if count == 1 else f"{count} times"
