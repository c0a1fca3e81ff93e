"""The wiring lock: a text file of who receives what, for CI to compare against.

``manage.py signals --lock FILE`` writes it, ``manage.py signals --check FILE`` compares
the wiring of the running code with it. One block per signal, one per sender inside it,
and one line per receiver in the order it runs for that sender, with how it runs::

    # django-blinker wiring lock, version 1
    [blinker] django_blinker.signals :: post_save
      sender shop.Order
        shop.receivers.order_saved  inline
        shop.receivers.index_order  background:celery

Signals and senders are sorted, receivers keep their order: a file written twice from
the same code is the same file, and a change of wiring is a change of a few lines. Source
locations are left out (they move with every edit), and so are settings such as
``OUTBOX``, which say how events travel, not who receives them, and Django's own
receivers (code under ``django.``): they change with Django's version and with what a
process happened to touch (each file storage connects one to ``setting_changed``).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .catalogue import SignalInfo
from .describe import ReceiverInfo

VERSION = 1
HEADER = f"# django-blinker wiring lock, version {VERSION}"
_ABOUT = (
    "# Written by `manage.py signals --lock`; `manage.py signals --check` compares the wiring",
    "# with it. Per signal and sender: each receiver, in the order it runs, and how it runs.",
)

_SIGNAL = re.compile(r"\[(?P<system>[a-z]+)\] (?P<namespace>\S+) :: (?P<name>\S.*)")
_SENDER_PREFIX = "  sender "
_RECEIVER_INDENT = "    "
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")

_DJANGOS_OWN = "django."
_BACKGROUND_MODES = {"inline after commit": "inline", "celery": "celery", "tasks": "tasks"}

Group = tuple[str, str]
"""``(signal heading, sender label)``: where receivers are listed."""

Line = tuple[str, str]
"""``(receiver name, mode)``."""


class LockFileError(ValueError):
    """A file that is not a wiring lock this version reads; says which line and why."""


def mode_of(receiver: ReceiverInfo) -> str:
    """How ``receiver`` runs, as one word of the lock: ``inline``, ``after-commit`` or
    ``background:<backend>`` (``celery``, ``tasks``, ``inline``), ``+async`` for a
    coroutine function run inline. Whether events go through the outbox is a setting,
    not wiring, and is left out."""
    words = receiver.mode.removesuffix(" via outbox")
    if words in _BACKGROUND_MODES:
        mode = f"background:{_BACKGROUND_MODES[words]}"
    else:
        mode = words.replace(" ", "-")
    return f"{mode}+async" if receiver.is_async and mode == "inline" else mode


def _stable(label: str) -> str:
    # A sender known by a repr or an id would change its address in every process.
    return _ADDRESS.sub("0x…", label)


def _heading(signal: SignalInfo) -> str:
    return f"[{signal.system}] {signal.namespace} :: {signal.name}"


@dataclass(frozen=True)
class Lock:
    """The wiring as a lock records it: receiver lines per (signal, sender), in order."""

    groups: dict[Group, list[Line]]

    @classmethod
    def of(cls, signals: Iterable[SignalInfo]) -> Lock:
        """The lock of ``signals`` (as :func:`~django_blinker.discovery.discover` finds
        them); Django's own receivers, and signals without others, are left out."""
        groups: dict[Group, list[Line]] = {}
        for signal in signals:
            for receiver in signal.receivers:
                if receiver.name.startswith(_DJANGOS_OWN):
                    continue
                key = (_heading(signal), _stable(receiver.sender))
                groups.setdefault(key, []).append((_stable(receiver.name), mode_of(receiver)))
        return cls(dict(sorted(groups.items())))

    def text(self) -> str:
        """The file's text: the header, then each signal and sender block, sorted."""
        lines = [HEADER, *_ABOUT]
        heading = None
        for (signal, sender), receivers in self.groups.items():
            if signal != heading:
                lines += ["", signal]
                heading = signal
            lines.append(f"{_SENDER_PREFIX}{sender}")
            width = max(len(name) for name, _mode in receivers)
            lines += [f"{_RECEIVER_INDENT}{name:<{width}}  {mode}" for name, mode in receivers]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str, source: str = "the lock file") -> Lock:
        """The lock that :meth:`text` wrote; :class:`LockFileError` naming the line that
        is not what it writes."""
        lines = text.splitlines()
        if not lines or lines[0].strip() != HEADER:
            # Not quoted: a file named by mistake may hold secrets, and CI logs are read.
            first = "not" if lines else "missing (the file is empty), not"
            raise LockFileError(
                f"{source} is not a django-blinker wiring lock: its first line is {first} "
                f"{HEADER!r}. Write it with manage.py signals --lock"
            )
        groups: dict[Group, list[Line]] = {}
        signal: str | None = None
        group: list[Line] | None = None
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip() or line.startswith("#"):
                continue
            if _SIGNAL.fullmatch(line):
                signal, group = line, None
            elif line.startswith(_SENDER_PREFIX) and signal is not None:
                group = groups.setdefault((signal, line.removeprefix(_SENDER_PREFIX)), [])
            elif line.startswith(_RECEIVER_INDENT) and group is not None:
                parts = line.split()
                if len(parts) < 2:
                    raise _garbled(source, number, line, "a receiver line needs a name and a mode")
                group.append((" ".join(parts[:-1]), parts[-1]))
            else:
                expected = (
                    "'[system] namespace :: name'"
                    if signal is None
                    else "a signal heading, '  sender LABEL' or an indented receiver line"
                )
                raise _garbled(source, number, line, f"expected {expected}")
        return cls(groups)


def _garbled(source: str, number: int, line: str, why: str) -> LockFileError:
    return LockFileError(
        f"{source}, line {number}: {line.strip()[:80]!r} is not a line of a wiring lock "
        f"({why}). Write the file again with manage.py signals --lock"
    )


def changes(old: Lock, new: Lock) -> list[str]:
    """What differs from ``old`` to ``new``, one sentence each: receivers added, removed,
    run another way, or run in another order."""
    found = []
    for key in dict.fromkeys([*old.groups, *new.groups]):
        signal, sender = key
        where = f"{signal} (sender {sender})"
        before, after = old.groups.get(key, []), new.groups.get(key, [])
        before_modes, after_modes = dict(before), dict(after)
        for name, mode in after:
            if name not in before_modes:
                found.append(f"added: {name} ({mode}) to {where}")
        for name, mode in before:
            if name not in after_modes:
                found.append(f"removed: {name} ({mode}) from {where}")
        for name, mode in before:
            if name in after_modes and after_modes[name] != mode:
                found.append(f"mode changed: {name} {mode} -> {after_modes[name]} in {where}")
        kept_before = [name for name, _mode in before if name in after_modes]
        kept_after = [name for name, _mode in after if name in before_modes]
        if sorted(kept_before) != sorted(kept_after):
            counts_before, counts_after = Counter(kept_before), Counter(kept_after)
            found += [
                f"connected another number of times: {name} {counts_before[name]} -> "
                f"{counts_after[name]} in {where}"
                for name in dict.fromkeys(kept_before + kept_after)
                if counts_before[name] != counts_after[name]
            ]
        elif kept_before != kept_after:
            found.append(
                f"order changed in {where}: {', '.join(kept_before)} -> {', '.join(kept_after)}"
            )
    return found


def unified_diff(old: str, new: str, old_name: str, new_name: str = "the wiring now") -> str:
    """A unified diff of two lock texts, three lines of context."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
        )
    )
