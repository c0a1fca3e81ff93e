"""``assert_sent`` and ``assert_not_sent``: a block must (not) send a signal as described."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

from blinker import ANY, Signal

from .recorder import SignalRecorder, record_signals


@contextlib.contextmanager
def assert_sent(
    signal: Signal, /, *, sender: Any = ANY, times: int | None = None, **kwargs: Any
) -> Generator[SignalRecorder, None, None]:
    """Fail unless the block sends ``signal`` as described (see :meth:`SignalRecorder.filter`).

    ``times`` asks for an exact count. Yields the recorder, to look closer afterwards.
    """
    __tracebackhide__ = True
    with record_signals(signal) as recorder:
        yield recorder
    recorder.assert_sent(signal, sender=sender, times=times, **kwargs)


@contextlib.contextmanager
def assert_not_sent(
    signal: Signal, /, *, sender: Any = ANY, **kwargs: Any
) -> Generator[SignalRecorder, None, None]:
    """Fail if the block sends ``signal`` as described; yields the recorder."""
    __tracebackhide__ = True
    with record_signals(signal) as recorder:
        yield recorder
    recorder.assert_not_sent(signal, sender=sender, **kwargs)
