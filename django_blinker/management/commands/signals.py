"""``manage.py signals``: every Blinker and Django signal of the project and its receivers."""

from __future__ import annotations

import contextlib
import difflib
import getpass
import json
from argparse import ArgumentParser
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from django_blinker import conf, discovery, outbox, wiring_picture
from django_blinker.bridging import pauses
from django_blinker.describe import ReceiverInfo
from django_blinker.inspection import unused

SCHEMA_VERSION = 1


class Command(BaseCommand):
    help = (
        "List every Blinker and Django signal with its receivers: name, sender, source, "
        "weak/strong, sync/async and how it runs. --json prints the same data as JSON, "
        "--dot the wiring picture of the models as Graphviz DOT."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        output.add_argument(
            "--dot",
            action="store_true",
            help="Print Graphviz DOT: model -> signal -> receiver -> how it runs, for every "
            "model (or the --model), after the other filters.",
        )
        parser.add_argument(
            "--model",
            metavar="APP_LABEL.MODEL",
            help="Only what runs for this model's inits, saves, deletes and m2m changes.",
        )
        parser.add_argument("--namespace", help="Only signals of this namespace.")
        parser.add_argument("--signal", help="Only signals with this name.")
        parser.add_argument(
            "--system", choices=discovery.SYSTEMS, help="Only Blinker or only Django signals."
        )
        change = parser.add_mutually_exclusive_group()
        change.add_argument(
            "--pause",
            metavar="RECEIVER",
            help="Pause this receiver (its name as listed) in every process, within "
            "PAUSE_REFRESH seconds; recorded in the admin log under --by.",
        )
        change.add_argument(
            "--resume", metavar="RECEIVER", help="Resume a paused receiver in every process."
        )
        change.add_argument(
            "--unused",
            action="store_true",
            help="List the receivers with no call within the activity store's retention.",
        )
        parser.add_argument(
            "--by",
            metavar="USERNAME",
            help="The user a pause or resume is recorded under (default: your login name).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pause"] is not None or options["resume"] is not None:
            self._change_pause(options["pause"], options["resume"], options["by"])
            return
        if options["unused"]:
            self._show_unused()
            return
        signals = discovery.discover()
        namespace = options["namespace"]
        if namespace is not None:
            known = discovery.namespaces(signals)
            # Blinker's own namespace exists in every project, even while it is empty.
            if namespace not in known and namespace != "blinker.default_namespace":
                raise CommandError(
                    f"{namespace!r} is not a known namespace; expected one of: {', '.join(known)}"
                )
            signals = [signal for signal in signals if signal.namespace == namespace]
        if options["system"]:
            signals = [signal for signal in signals if signal.system == options["system"]]
        if options["signal"] is not None:
            names = sorted({signal.name for signal in signals})
            signals = [signal for signal in signals if signal.name == options["signal"]]
            if not signals:
                close = difflib.get_close_matches(options["signal"], names, n=1)
                raise CommandError(
                    f"no signal named {options['signal']!r}"
                    + (f" in {namespace!r}" if namespace else "")
                    + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" Known names: {', '.join(names)}"
                )
        if options["model"] is not None:
            try:
                model = discovery.find_model(options["model"])
            except LookupError as error:
                raise CommandError(error.args[0]) from None
            found = discovery.receivers_for_model(signals, model)
            if options["dot"]:
                self._show_dot({model._meta.label: found}, f"wiring of {model._meta.label}")
                return
            self._show_model(model._meta.label, found, options)
            return
        if options["dot"]:
            every = {
                model._meta.label: discovery.receivers_for_model(signals, model)
                for model in apps.get_models()
            }
            self._show_dot(every, "wiring")
            return
        unimported = discovery.unimported_modules()
        # The listing needs no database; without one it shows no pauses.
        with contextlib.suppress(Exception):
            pauses.refresh()
        if options["json"]:
            data = {
                "version": SCHEMA_VERSION,
                "signals": [signal.as_dict() for signal in signals],
                "unimported_modules": [module.as_dict() for module in unimported],
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        if not signals:
            self.stdout.write("No signals match these options.")
        for signal in signals:
            self._show_signal(signal)
        for module in unimported:
            self.stderr.write(
                f"{module.module} is not imported in this process, so its receivers are not "
                f"connected and its signals are not listed: {module.hint}."
            )

    def _change_pause(self, pause: str | None, resume: str | None, by: str | None) -> None:
        name = pause if pause is not None else resume
        assert name is not None
        user = _user(by)
        pauses.refresh()
        known = sorted(
            {receiver.name for signal in discovery.discover() for receiver in signal.receivers}
        )
        paused = sorted(pauses.paused_names())
        if resume is not None:
            if not pauses.resume(name, user, via="manage.py signals"):
                raise CommandError(_unknown(name, paused, "is not paused"))
            released = outbox.release_held()
            self.stdout.write(
                f"Resumed {name}; every process honours it within "
                f"{_bound()}."
                + (f" Published {released} event(s) kept while it was paused." if released else "")
            )
            return
        if name not in known:
            raise CommandError(_unknown(name, known, "is not a receiver connected here"))
        found = pauses.pause(name, user, via="manage.py signals")
        self.stdout.write(
            f"Paused {name} (since {found.paused_at:%Y-%m-%d %H:%M:%S %Z}, by "
            f"{found.paused_by}); every process honours it within {_bound()}."
        )

    def _show_unused(self) -> None:
        try:
            found = unused.unused_receivers()
        except unused.StoreOff as off:
            raise CommandError(str(off)) from None
        if not found.receivers:
            self.stdout.write(
                f"Every receiver was called within the last {found.window_text} "
                f"(activity store {found.store!r})."
            )
            return
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Receivers with no call within the last {found.window_text} "
                f"(activity store {found.store!r}):"
            )
        )
        for item in found.receivers:
            self.stdout.write(f"    {item.receiver}  ({item.signal}, {item.mode})")
        for note in found.notes:
            self.stderr.write(note)

    def _show_dot(self, found: dict[str, list[discovery.ModelReceiver]], name: str) -> None:
        graph = wiring_picture.wiring(found)
        self.stdout.write(wiring_picture.to_dot(graph, name), ending="")

    def _show_signal(self, signal: discovery.SignalInfo) -> None:
        count = len(signal.receivers)
        heading = f"[{signal.system}] {signal.namespace} :: {signal.name}"
        notes = [f"{count} receiver{'s' if count != 1 else ''}"]
        if signal.counterpart:
            notes.append("bridged with " + " :: ".join(signal.counterpart[1:]))
        if signal.hooked:
            notes.append("hooked")
        self.stdout.write(self.style.MIGRATE_HEADING(heading) + f"  ({'; '.join(notes)})")
        self._table([(receiver, "") for receiver in signal.receivers])

    def _show_model(
        self, label: str, found: list[discovery.ModelReceiver], options: dict[str, Any]
    ) -> None:
        if options["json"]:
            data = {
                "version": SCHEMA_VERSION,
                "model": label,
                "receivers": [
                    {
                        "signal": list(item.signal.key),
                        "action": item.action,
                        "reason": item.reason,
                        **item.receiver.as_dict(),
                    }
                    for item in found
                ],
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"What runs for {label}"))
        if not found:
            self.stdout.write("  nothing: no receiver of either system listens to this model")
        for signal_key in dict.fromkeys(item.signal.key for item in found):
            rows = [(item.receiver, item.reason) for item in found if item.signal.key == signal_key]
            system, namespace, name = signal_key
            self.stdout.write(f"[{system}] {namespace} :: {name}")
            self._table(rows)

    def _table(self, rows: list[tuple[ReceiverInfo, str]]) -> None:
        if not rows:
            self.stdout.write("    (no receivers)")
            return
        lines = [("receiver", "sender", "runs", "source")]
        for receiver, reason in rows:
            runs = ", ".join(
                [
                    "async" if receiver.is_async else "sync",
                    "weak" if receiver.weak else "strong",
                    receiver.mode,
                    receiver.kind,
                ]
            )
            source = f"{receiver.file}:{receiver.line}" if receiver.file else "?"
            found = pauses.pause_of(receiver.name)
            if found is not None:
                runs += f", PAUSED since {found.paused_at:%Y-%m-%d %H:%M} by {found.paused_by}"
            sender = receiver.sender + (f" ({reason})" if reason else "")
            lines.append((receiver.name, sender, runs, source))
        widths = [max(len(line[column]) for line in lines) for column in range(3)]
        for number, line in enumerate(lines):
            text = "    " + "  ".join(
                [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[3]]
            )
            self.stdout.write(self.style.HTTP_INFO(text) if number == 0 else text)


def _user(username: str | None) -> Any:
    """The user a pause or resume is recorded under: ``username``, or the login name."""
    name = username or getpass.getuser()
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(name)
    except model.DoesNotExist:
        raise CommandError(
            f"no user {name!r}; pass --by USERNAME naming a user of this site: every pause "
            "and resume is recorded in the admin log under a user"
        ) from None


def _unknown(name: str, names: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    return f"{name!r} {what}" + (f"; did you mean {close[0]!r}?" if close else ".")


def _bound() -> str:
    every = conf.settings.pause_refresh
    return f"{every:g} seconds (PAUSE_REFRESH)" if every is not None else "its next restart"
