"""Worker processes of tests/observation/test_tracing.py: an SDK tracer provider whose finished
spans
are pushed as JSON to the Redis list ``DJANGO_BLINKER_TEST_SPANS_KEY``, for the test to
read (tests/support/worker_settings.py installs this app only when that variable is set)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig


def span_as_dict(span: Any) -> dict[str, Any]:
    """What the test reads of a finished span: names, ids in hex, attributes, status."""
    context = span.get_span_context()
    return {
        "name": span.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "events": [event.name for event in span.events],
        "pid": os.getpid(),
    }


class TracingAppConfig(AppConfig):
    name = "tests.support.tracingapp"
    label = "tracingapp"

    def ready(self) -> None:
        import redis
        from opentelemetry import trace
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        client = redis.Redis.from_url(os.environ["DJANGO_BLINKER_TEST_REDIS"])
        key = os.environ["DJANGO_BLINKER_TEST_SPANS_KEY"]

        class RedisSpanExporter(SpanExporter):
            def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
                for span in spans:
                    client.rpush(key, json.dumps(span_as_dict(span)))
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(RedisSpanExporter()))
        trace.set_tracer_provider(provider)
