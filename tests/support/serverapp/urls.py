from __future__ import annotations

from django.urls import path

from tests.support.serverapp import views

urlpatterns = [
    path("served/<slug:label>/", views.served, name="serverapp-served"),
    path("authors/<slug:name>/", views.save_author),
    path("async-authors/<slug:name>/", views.asave_author),
]
