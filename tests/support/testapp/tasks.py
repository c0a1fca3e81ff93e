"""A task for the Django 6.x task signals (django.tasks is new in 6.0)."""

from __future__ import annotations

import django

if django.VERSION >= (6, 0):  # pragma: no branch
    from django.tasks import task

    @task()
    def double(value: int) -> int:
        return value * 2
