from __future__ import annotations

from django.urls import include, path

from tests.support.toolbarapp.views import announce, save_book

urlpatterns = [
    path("save/", save_book, name="save-book"),
    path("announce/", announce, name="announce"),
    path("__debug__/", include("debug_toolbar.urls")),
]
