"""Puts the signal pages on the admin index, under the app, as "Signals"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.urls import URLPattern, path

from . import views
from .models import Signal

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Signal]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(Signal)
class SignalAdmin(_ModelAdmin):
    """Read-only: the changelist is the signal list; nothing can be added, changed or deleted."""

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site

        def view(cls: type[views.SignalPageView]) -> Any:
            return site.admin_view(cls.as_view(admin_site=site))

        return [
            path("", view(views.SignalListView), name="django_blinker_signal_changelist"),
            path(
                "signal/<str:system>/<str:namespace>/<path:name>/",
                view(views.SignalDetailView),
                name="django_blinker_signal_detail",
            ),
            path(
                "model/<str:label>/",
                view(views.ModelSignalsView),
                name="django_blinker_signal_model",
            ),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
