"""A relay loop for the chaos test when ``manage.py blinker_relay`` is not there:
``relay_all()`` every ``--interval`` seconds while nothing was due, until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.chaos.settings")
    django.setup()
    from django.db import close_old_connections

    from django_blinker.outbox import relay_all

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    logger = logging.getLogger("django_blinker")
    logger.info("Chaos relay loop started")
    while not stopping:
        try:
            published = relay_all()
        except Exception:
            logger.exception("Chaos relay pass failed")
            close_old_connections()
            published = 0
        if not published:
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
