"""A process that sends one signal again and again and says what its receiver did:
``python -m tests.support.pause_probe`` prints ``called`` or ``skipped`` per send
(tests/bridging/test_pauses.py pauses the receiver from the test process and waits for the
word to change). Another receiver listens to a signal that is never sent
(tests/inspection/test_unused.py)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.dispatch import Signal

probe_sent = Signal()
never_sent = Signal()
CALLS: list[Any] = []


def probe_receiver(sender: Any, **kwargs: Any) -> None:
    CALLS.append(sender)


def never_receiver(sender: Any, **kwargs: Any) -> None:
    CALLS.append(("never", sender))


def connect() -> Any:
    """Connect the receiver to the bridged probe signal; returns the bridged signal."""
    from django_blinker import bridge

    signal = bridge(probe_sent, name="pause_probe_sent")
    signal.connect(probe_receiver, weak=False)
    bridge(never_sent, name="pause_probe_never_sent").connect(never_receiver, weak=False)
    return signal


def main() -> None:
    import django

    django.setup()
    # Run as __main__, this module would name its receiver __main__.probe_receiver.
    from tests.support import pause_probe

    pause_probe.connect()
    print("ready", flush=True)
    # Ends when the test kills it; bounded in any case.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        before = len(pause_probe.CALLS)
        pause_probe.probe_sent.send(sender="probe")
        print("called" if len(pause_probe.CALLS) > before else "skipped", flush=True)
        time.sleep(0.05)
    sys.exit(0)


if __name__ == "__main__":
    main()
