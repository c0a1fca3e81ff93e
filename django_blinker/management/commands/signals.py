"""``manage.py signals``: every Blinker and Django signal of the project and its receivers."""

from __future__ import annotations

import difflib
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from django_blinker import discovery, wiring_picture
from django_blinker.describe import ReceiverInfo
from django_blinker.inspection.lock import Lock, LockFileError, changes, unified_diff

SCHEMA_VERSION = 1


class Command(BaseCommand):
    help = (
        "List every Blinker and Django signal with its receivers: name, sender, source, "
        "weak/strong, sync/async and how it runs. --json prints the same data as JSON, "
        "--dot the wiring picture of the models as Graphviz DOT. --lock FILE writes the "
        "wiring to a file for CI, --check FILE compares the wiring with it (exit status 1 "
        "when it differs, 2 when the file cannot be read)."
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
        output.add_argument(
            "--lock",
            metavar="FILE",
            help="Write the wiring (per signal and sender: each receiver, in order, and how "
            "it runs) to FILE, sorted, for --check to compare with.",
        )
        output.add_argument(
            "--check",
            metavar="FILE",
            help="Compare the wiring with the lock FILE: print what changed and a unified "
            "diff, and exit with status 1, when it differs.",
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

    def handle(self, *args: Any, **options: Any) -> None:
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
        if options["lock"] is not None or options["check"] is not None:
            if options["model"] is not None:
                raise CommandError("--lock and --check cover every model; leave out --model")
            self._warn_unimported()
            if options["lock"] is not None:
                self._write_lock(Path(options["lock"]), Lock.of(signals))
            else:
                self._check_lock(Path(options["check"]), Lock.of(signals))
            return
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
        self._warn_unimported(unimported)

    def _warn_unimported(self, unimported: list[discovery.UnimportedModule] | None = None) -> None:
        for module in discovery.unimported_modules() if unimported is None else unimported:
            self.stderr.write(
                f"{module.module} is not imported in this process, so its receivers are not "
                f"connected and its signals are not listed: {module.hint}."
            )

    def _write_lock(self, path: Path, lock: Lock) -> None:
        try:
            path.write_text(lock.text(), encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write the lock to {str(path)!r}: {error}") from None
        count = sum(len(receivers) for receivers in lock.groups.values())
        self.stdout.write(
            f"Wrote the wiring to {path}: {count} receiver{'s' if count != 1 else ''} of "
            f"{len({signal for signal, _sender in lock.groups})} signals."
        )

    def _check_lock(self, path: Path, lock: Lock) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CommandError(
                f"{str(path)!r} does not exist; write it with manage.py signals --lock {path}",
                returncode=2,
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {str(path)!r}: {error}", returncode=2) from None
        try:
            locked = Lock.parse(text, source=repr(str(path)))
        except LockFileError as error:
            raise CommandError(str(error), returncode=2) from None
        found = changes(locked, lock)
        if not found and locked.groups == lock.groups:
            self.stdout.write(f"OK: the wiring matches {path}.")
            return
        self.stdout.write(f"The wiring differs from {path}:")
        for change in found:
            self.stdout.write(f"  {change}")
        self.stdout.write("")
        self.stdout.write(unified_diff(locked.text(), lock.text(), str(path)), ending="")
        raise CommandError(
            f"the wiring differs from {path} ({len(found)} change"
            f"{'s' if len(found) != 1 else ''}); if that is intended, write it again with "
            f"manage.py signals --lock {path}",
            returncode=1,
        )

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
            sender = receiver.sender + (f" ({reason})" if reason else "")
            lines.append((receiver.name, sender, runs, source))
        widths = [max(len(line[column]) for line in lines) for column in range(3)]
        for number, line in enumerate(lines):
            text = "    " + "  ".join(
                [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[3]]
            )
            self.stdout.write(self.style.HTTP_INFO(text) if number == 0 else text)
