"""The chaos receivers, run in Celery pool children or db_workers.

``logged`` records every delivery (at least once); ``effect`` is wrapped in
``once_per_event``, so its row must exist exactly once per event. Either one stalls for
``DJANGO_BLINKER_CHAOS_STALL`` seconds when it wins the stall ticket that the test lays
down (a file named after the receiver, which the first process to unlink it owns): the test
then kills that process mid-task. The probe line it writes first names the event and pid.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django_blinker import signals
from django_blinker.background import current_event, in_background, once_per_event


def _stall(receiver: str, marker: str) -> None:
    directory = os.environ.get("DJANGO_BLINKER_CHAOS_DIR")
    if not directory:
        return
    try:
        (Path(directory) / f"stall-{receiver}").unlink()
    except FileNotFoundError:
        return
    event = current_event()
    probe = {
        "receiver": receiver,
        "event": event.id if event else None,
        "marker": marker,
        "pid": os.getpid(),
        "at": time.time(),
    }
    with (Path(directory) / "probes.jsonl").open("a") as file:
        file.write(json.dumps(probe) + "\n")
    time.sleep(float(os.environ.get("DJANGO_BLINKER_CHAOS_STALL", "5")))


def logged(sender: Any, instance: Any, **kwargs: Any) -> None:
    from tests.support.chaosapp.models import Delivery

    event = current_event()
    assert event is not None
    _stall("logged", instance.marker)
    Delivery.objects.create(event=event.id, marker=instance.marker, pid=os.getpid())


@once_per_event
def effect(sender: Any, instance: Any, **kwargs: Any) -> None:
    from tests.support.chaosapp.models import Effect

    event = current_event()
    assert event is not None
    _stall("effect", instance.marker)
    Effect.objects.create(event=event.id, marker=instance.marker, pid=os.getpid())


def connect(backend: str) -> None:
    """Connect both receivers to the chaos rows' post_save on ``backend``."""
    for receiver in (logged, effect):
        in_background(signals.post_save, receiver, sender="chaosapp.Row", backend=backend)
