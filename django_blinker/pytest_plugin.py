"""pytest fixtures and a marker for the helpers in :mod:`django_blinker.testing`.

Registered through the ``pytest11`` entry point, so it is active wherever django-blinker
is installed. Fixtures:

- ``signal_recorder``: ``signal_recorder(*signals, sender=ANY)`` starts a
  :class:`~django_blinker.testing.SignalRecorder` that records until the test ends (or
  until a ``with`` block around it ends).
- ``mute_signals``: ``mute_signals(*signals)`` mutes those signals (every bridged signal
  when none are given) until the test ends, or for a ``with`` block.
- ``run_receivers_inline``: the context manager
  :func:`~django_blinker.testing.run_receivers_inline`.

The marker ``@pytest.mark.mute_signals(*signals)`` mutes for the whole test, including its
function-scoped fixtures (handy for ``loaddata`` in a fixture).

Django is imported only when a fixture is used, so the plugin costs nothing elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest
from blinker import ANY

if TYPE_CHECKING:
    from .testing import MutedSignals, SignalRecorder, SignalSource

MARKER = "mute_signals"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*signals): mute these Blinker signals (every bridged signal when none "
        "are given) for the test and its function-scoped fixtures (django-blinker)",
    )


@pytest.fixture
def signal_recorder() -> Generator[Callable[..., SignalRecorder], None, None]:
    """Start recording signals: ``signal_recorder(*signals, sender=ANY)``.

    Returns the started recorder; it stops at the end of the test.
    """
    from .testing import record_signals

    started: list[SignalRecorder] = []

    def record(*sources: SignalSource, sender: Any = ANY) -> SignalRecorder:
        recorder = record_signals(*sources, sender=sender).start()
        started.append(recorder)
        return recorder

    yield record
    for recorder in reversed(started):
        recorder.stop()


@pytest.fixture
def mute_signals() -> Generator[Callable[..., MutedSignals], None, None]:
    """Mute signals: ``mute_signals(*signals)``, every bridged signal when none are given.

    The mute lasts until the end of the test, or until a ``with`` block around the call
    ends (``with mute_signals(): call_command("loaddata", "books")``).
    """
    from . import testing

    started: list[MutedSignals] = []

    def mute(*sources: SignalSource) -> MutedSignals:
        muting = testing.mute_signals(*sources).start()
        started.append(muting)
        return muting

    yield mute
    for muting in reversed(started):
        muting.stop()


@pytest.fixture
def run_receivers_inline() -> Callable[..., Any]:
    """The :func:`~django_blinker.testing.run_receivers_inline` context manager."""
    from .testing import run_receivers_inline

    return run_receivers_inline


@pytest.fixture(autouse=True)
def _django_blinker_mute_marker(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        yield
        return
    from .testing import mute_signals

    with mute_signals(*marker.args):
        yield
