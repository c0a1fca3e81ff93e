"""The chaos sender: saves rows in transactions of random size until ``--total`` saves
were attempted, about 10% of transactions rolled back and 10% of the committed ones with a
savepoint rolled back inside.

Each save is a row with a unique marker. After each transaction the sender appends its
outcome to the ledger (``C marker`` committed, ``R marker`` rolled back) and prints
``done <attempted> <committed>`` on stdout, so the test can kill it right after a commit and start
another sender from there. ``python -m tests.support.chaos.sender --run NAME --start N --total T
--ledger PATH [--seed S]``; the same seed and run name make the same transactions.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

import django


class _RollBack(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--seed", default="0")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.chaos.settings")
    django.setup()
    from django.db import transaction

    from tests.support.chaosapp.models import Row

    rng = random.Random(f"{args.seed}-{args.run}")
    attempted = args.start
    number = 0
    ledger = os.open(args.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        while attempted < args.total:
            size = min(rng.randint(1, 50), args.total - attempted)
            roll_back = rng.random() < 0.1
            savepoint = not roll_back and size > 1 and rng.random() < 0.1
            inner_from = rng.randrange(size) if savepoint else size
            inner_to = rng.randint(inner_from + 1, size) if savepoint else size
            committed: list[str] = []
            dropped: list[str] = []

            def save(index: int, into: list[str], number: int = number) -> None:
                marker = f"{args.run}-{number}-{index}"
                Row.objects.create(marker=marker, run=args.run)
                into.append(marker)

            try:
                with transaction.atomic():
                    index = 0
                    while index < size:
                        if index == inner_from:
                            inner: list[str] = []
                            try:
                                with transaction.atomic():
                                    for inner_index in range(inner_from, inner_to):
                                        save(inner_index, inner)
                                    raise _RollBack
                            except _RollBack:
                                dropped.extend(inner)
                            index = inner_to
                            continue
                        save(index, committed)
                        index += 1
                    if roll_back:
                        raise _RollBack
            except _RollBack:
                if roll_back:
                    dropped.extend(committed)
                    committed = []
            # One write per transaction: a SIGKILL never leaves half of one in the ledger.
            lines = [f"C {marker}\n" for marker in committed]
            lines += [f"R {marker}\n" for marker in dropped]
            os.write(ledger, "".join(lines).encode())
            attempted += size
            number += 1
            sys.stdout.write(f"done {attempted} {len(committed)}\n")
            sys.stdout.flush()
    finally:
        os.close(ledger)
    sys.stdout.write("finished\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
