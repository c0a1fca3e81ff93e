from __future__ import annotations

from django.urls import path

from tests.support.pingapp import views

urlpatterns = [
    path("ready/", views.ready),
    path("ping/", views.ping),
]
