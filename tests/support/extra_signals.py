"""A module named in DJANGO_BLINKER["SIGNAL_MODULES"] by tests/inspection/test_discovery.py."""

from __future__ import annotations

from blinker import Namespace
from django.dispatch import Signal as DjangoSignal

reporting = Namespace()

report_ready = reporting.signal("report-ready")

report_failed = DjangoSignal()
