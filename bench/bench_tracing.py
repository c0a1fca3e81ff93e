"""Issue 12 benchmark: what tracing costs, off and on, on the P2 workloads of bench_bridge.

One receiver on ``Item``: ``post_init`` while iterating 5,000 rows, ``post_save`` on
``save()``, and ``post_save`` to an after-commit receiver (run at once: no transaction).
The baseline is a Blinker receiver through the bridge with no tracing code at all
(:mod:`django_blinker.observation.tracing` uninstalled); "(A/A)" is the same again, the noise floor.
"tracing off" is the module installed with ``TRACING`` False; "not installed" has
``TRACING`` True while ``opentelemetry`` cannot be imported. "native Django receiver"
puts the bridge itself in proportion. The "on" rows show the price of spans: through the
API alone (no SDK: non-recording spans), and through the SDK with a batch processor whose
exporter drops what it gets (this thread's CPU time; the export thread is flushed
between samples, and with such an exporter it has next to nothing to do). "excluded" is
tracing on through the SDK with the receiver named in ``TRACING_EXCLUDE``: it should cost
what tracing off costs; "sampled 0.1" keeps one receiver span in ten (``TRACING_SAMPLE``).
Run: ``python -m bench.bench_tracing [--rounds N]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from bench import harness

TARGET = 1.01


def main() -> int:
    parser = harness.workload_arguments()
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from django.conf import settings
    from django.db.models import signals as django_signals
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from bench.benchapp.models import Item
    from django_blinker import after_commit, signals
    from django_blinker.observation import tracing

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class Switch(trace.TracerProvider):
        """The global provider, switched per variant (OpenTelemetry sets it only once)."""

        current: trace.TracerProvider = trace.NoOpTracerProvider()

        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            return self.current.get_tracer(*args, **kwargs)

    sdk = SdkTracerProvider()
    sdk.add_span_processor(BatchSpanProcessor(Dropping()))
    switch = Switch()
    trace.set_tracer_provider(switch)

    iterate, save, item = harness.item_workload(options.rows, options.passes, options.saves)

    def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    trace_package = sys.modules["opentelemetry"]
    Pair = tuple[Callable[[], object], Callable[[], object]]

    def variant(
        wiring: Pair,
        installed: bool,
        on: bool = False,
        provider: Any = None,
        blocked: bool = False,
        **keys: Any,
    ) -> tuple[Callable[[], None], Callable[[], None]]:
        connect, disconnect = wiring

        def enter() -> None:
            if blocked:
                sys.modules["opentelemetry"] = None  # type: ignore[assignment]
            tracing._opentelemetry.cache_clear()
            switch.current = provider or trace.NoOpTracerProvider()
            settings.DJANGO_BLINKER = {"TRACING": on, **keys}
            if installed:
                tracing.install()
            else:
                tracing.uninstall()
            assert tracing.enabled is (on and not blocked)
            connect()
            iterate()  # the first send after a change builds the plans again
            item.save()

        def leave() -> None:
            sdk.force_flush()  # the export thread's work must not land in the next sample
            disconnect()
            sys.modules["opentelemetry"] = trace_package
            tracing._opentelemetry.cache_clear()

        return enter, leave

    def inline(signal: Any) -> Pair:
        return (
            lambda: signal.connect(receiver, sender=Item),
            lambda: signal.disconnect(receiver, sender=Item),
        )

    def deferred(signal: Any) -> Pair:
        return (
            lambda: after_commit.on_commit(signal, receiver, sender=Item),
            lambda: after_commit.disconnect(signal, receiver, sender=Item),
        )

    workloads = (
        ("iterate rows (post_init)", iterate, inline(signals.post_init), django_signals.post_init),
        ("save() (post_save)", save, inline(signals.post_save), django_signals.post_save),
        ("save(), after commit", save, deferred(signals.post_save), None),
    )
    zero_cost = (
        "no tracing code (A/A)",
        "tracing off",
        "on, opentelemetry not installed",
        "on, SDK, receiver excluded",
    )
    excluding = {"TRACING_EXCLUDE": ["*.receiver"]}
    ratios: dict[str, dict[str, float]] = {}
    for label, body, wiring, native in workloads:
        variants = {
            "no tracing code": variant(wiring, False),
            "no tracing code (A/A)": variant(wiring, False),
            "tracing off": variant(wiring, True),
            "on, opentelemetry not installed": variant(wiring, True, on=True, blocked=True),
            "on, API only (no SDK)": variant(wiring, True, on=True),
            "on, SDK, batch export": variant(wiring, True, on=True, provider=sdk),
            "on, SDK, receiver excluded": variant(wiring, True, on=True, provider=sdk, **excluding),
            "on, SDK, sampled 0.1": variant(
                wiring, True, on=True, provider=sdk, TRACING_SAMPLE=0.1
            ),
        }
        if native is not None:
            variants["native Django receiver"] = variant(inline(native), False)
        ratios[label] = harness.compare(
            f"{label}: one receiver on Item, tracing code absent / off / on",
            {name: (enter, body, leave) for name, (enter, leave) in variants.items()},
            options.rounds,
            baseline="no tracing code",
        )

    print("\nSummary (target for off, not installed and excluded: at most 1.01):")
    for label, found in ratios.items():
        for name, ratio in found.items():
            if name == "no tracing code":
                continue
            mark = f"(at most {TARGET})" if name in zero_cost else ""
            print(f"  {label:<26} {name:<34} {ratio:7.3f}  {mark}")
    sdk.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
