"""``manage.py signals``: every Blinker and Django signal of the project and its receivers."""

from __future__ import annotations

import contextlib
import difflib
import getpass
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, no_translations

from ... import conf, inspection
from ...background import outbox
from ...bridging import pauses
from ...inspection import picture, unused
from ...inspection.describe import ReceiverInfo
from ...inspection.lock import Lock, LockFileError, changes, unified_diff
from ...observation import activity, store
from ...observation.figures import SignalTotals, signal_figures

SCHEMA_VERSION = 1


class Command(BaseCommand):
    help = (
        "List the Blinker and Django signals that have receivers, with each receiver's name, "
        "sender, source, weak/strong, sync/async, how it runs and, while activity is "
        "recorded, its calls. --all lists the signals without receivers too, --json every "
        "signal as JSON, --dot the wiring picture of the models as Graphviz DOT. --lock FILE "
        "writes the wiring to a file for CI, --check FILE compares the wiring with it (exit "
        "status 1 when it differs, 2 when the file cannot be read)."
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
            help="Only what runs for this model: its inits, saves, field changes, deletes, "
            "m2m changes, bulk creates and updates, updates and queryset deletes.",
        )
        parser.add_argument("--namespace", help="Only signals of this namespace.")
        parser.add_argument("--signal", help="Only signals with this name.")
        parser.add_argument(
            "--system", choices=inspection.SYSTEMS, help="Only Blinker or only Django signals."
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="List the signals without receivers too (--json and --signal always do).",
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

    # The output is a tool's: English whatever LANGUAGE_CODE says, as --json must be.
    @no_translations
    def handle(self, *args: Any, **options: Any) -> None:
        if options["pause"] is not None or options["resume"] is not None:
            self._change_pause(options["pause"], options["resume"], options["by"])
            return
        if options["unused"]:
            self._show_unused()
            return
        self._site = store.site_activity()
        self._counting = activity.is_enabled() or self._site is not None
        signals = inspection.discover()
        unfiltered_signals = signals
        namespace = options["namespace"]
        if namespace is not None:
            known = inspection.namespaces(signals)
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
                model = inspection.find_model(options["model"])
            except LookupError as error:
                raise CommandError(error.args[0]) from None
            found = inspection.receivers_for_model(signals, model)
            if options["dot"]:
                self._show_dot({model._meta.label: found}, f"wiring of {model._meta.label}")
                return
            unfiltered = inspection.receivers_for_model(unfiltered_signals, model)
            self._show_model(model._meta.label, found, len(unfiltered), options)
            return
        if options["dot"]:
            every = {
                model._meta.label: inspection.receivers_for_model(signals, model)
                for model in apps.get_models()
            }
            self._show_dot(every, "wiring")
            return
        unimported = inspection.unimported_modules()
        # The listing needs no database; without one it shows no pauses.
        with contextlib.suppress(Exception):
            pauses.refresh()
        if options["json"]:
            data = {
                "version": SCHEMA_VERSION,
                "signals": [self._signal_dict(signal) for signal in signals],
                "unimported_modules": [module.as_dict() for module in unimported],
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        shown = signals
        if not options["all"] and options["signal"] is None:
            shown = [signal for signal in signals if signal.receivers]
        if not signals:
            self.stdout.write("No signals match these options.")
        for signal in shown:
            self._show_signal(signal)
        hidden = len(signals) - len(shown)
        if hidden:
            self.stdout.write(
                f"{hidden} signal{'s' if hidden != 1 else ''} without receivers not shown "
                "(--all lists them)."
            )
        if any(signal.receivers for signal in shown):
            self._counts_note()
        self._warn_unimported(unimported)

    def _warn_unimported(self, unimported: list[inspection.UnimportedModule] | None = None) -> None:
        for module in inspection.unimported_modules() if unimported is None else unimported:
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

    def _change_pause(self, pause: str | None, resume: str | None, by: str | None) -> None:
        name = pause if pause is not None else resume
        assert name is not None
        user = _user(by)
        pauses.refresh()
        known = sorted(
            {receiver.name for signal in inspection.discover() for receiver in signal.receivers}
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

    def _show_dot(self, found: dict[str, list[inspection.ModelReceiver]], name: str) -> None:
        graph = picture.wiring(found)
        self.stdout.write(picture.to_dot(graph, name), ending="")

    def _figures(self, signal: inspection.SignalInfo) -> SignalTotals | None:
        return signal_figures(signal.signal, self._site)

    def _calls(self, signal: inspection.SignalInfo, receiver: ReceiverInfo) -> tuple[Any, Any]:
        """``(calls, errors)`` of ``receiver``, ``(None, None)`` when they are not recorded."""
        if not self._counting or not activity.is_recorded(signal.signal):
            return None, None
        figures = self._figures(signal)
        found = figures.receivers.get(receiver.name) if figures else None
        return (found.calls, found.errors) if found else (0, 0)

    def _signal_dict(self, signal: inspection.SignalInfo) -> dict[str, Any]:
        data = signal.as_dict()
        for receiver, info in zip(data["receivers"], signal.receivers, strict=True):
            receiver["calls"], receiver["errors"] = self._calls(signal, info)
        return data

    def _counts_note(self) -> None:
        if not self._counting:
            return
        if self._site is not None:
            where = "every process writing to the activity store, each since it started"
        else:
            where = (
                "this process's only, since it started (DJANGO_BLINKER['ACTIVITY_STORE'] "
                "adds up every process's)"
            )
        self.stdout.write(
            f"Calls: {where}; only the receivers of bridged signals are recorded (others: -)."
        )
        if self._site is not None and not self._site.complete:
            self.stdout.write(f"Calls may be incomplete: {'; '.join(self._site.problems)}.")

    def _show_signal(self, signal: inspection.SignalInfo) -> None:
        count = len(signal.receivers)
        heading = f"[{signal.system}] {signal.namespace} :: {signal.name}"
        notes = [f"{count} receiver{'s' if count != 1 else ''}"]
        if signal.counterpart:
            notes.append("bridged with " + " :: ".join(signal.counterpart[1:]))
        if signal.hooked:
            notes.append("hooked")
        if self._counting and activity.is_recorded(signal.signal):
            figures = self._figures(signal)
            sends = figures.sends if figures else 0
            notes.append(f"{sends} send{'s' if sends != 1 else ''}")
        self.stdout.write(self.style.MIGRATE_HEADING(heading) + f"  ({'; '.join(notes)})")
        self._table(
            [(receiver, "", self._calls(signal, receiver)) for receiver in signal.receivers]
        )

    def _show_model(
        self,
        label: str,
        found: list[inspection.ModelReceiver],
        unfiltered: int,
        options: dict[str, Any],
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
                        **dict(
                            zip(
                                ("calls", "errors"),
                                self._calls(item.signal, item.receiver),
                                strict=True,
                            )
                        ),
                    }
                    for item in found
                ],
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"What runs for {label}"))
        if not found and unfiltered:
            kept = " ".join(
                f"--{option} {options[option]}"
                for option in ("namespace", "signal", "system")
                if options[option] is not None
            )
            self.stdout.write(
                f"  nothing among the signals that {kept} keeps; {unfiltered} "
                f"receiver{'s' if unfiltered != 1 else ''} of other signals "
                f"run{'' if unfiltered != 1 else 's'} for {label} (drop the filter to see "
                f"{'them' if unfiltered != 1 else 'it'})"
            )
        elif not found:
            self.stdout.write("  nothing: no receiver of either system listens to this model")
        for signal_key in dict.fromkeys(item.signal.key for item in found):
            items = [item for item in found if item.signal.key == signal_key]
            system, namespace, name = signal_key
            self.stdout.write(f"[{system}] {namespace} :: {name}")
            self._table(
                [
                    (item.receiver, item.reason, self._calls(item.signal, item.receiver))
                    for item in items
                ]
            )
        if found:
            self._counts_note()

    def _table(self, rows: list[tuple[ReceiverInfo, str, tuple[Any, Any]]]) -> None:
        if not rows:
            self.stdout.write("    (no receivers)")
            return
        counting = self._counting
        lines = [("receiver", "sender", "runs", *(("calls",) if counting else ()), "source")]
        for receiver, reason, (calls, errors) in rows:
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
            shown = "-" if calls is None else str(calls)
            if errors:
                shown += f" ({errors} error{'s' if errors != 1 else ''})"
            lines.append((receiver.name, sender, runs, *((shown,) if counting else ()), source))
        last = len(lines[0]) - 1
        widths = [max(len(line[column]) for line in lines) for column in range(last)]
        for number, line in enumerate(lines):
            text = "    " + "  ".join(
                [
                    *(cell.ljust(width) for cell, width in zip(line, widths, strict=False)),
                    line[last],
                ]
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
    if every is None:
        return "its next restart"
    return f"{every:g} second{'' if every == 1 else 's'} (PAUSE_REFRESH)"
