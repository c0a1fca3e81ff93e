"""django_blinker.background.builtin_signals: which built-in signals cannot travel, and what
of their keyword arguments does."""

from __future__ import annotations

import pytest

from django_blinker import signals
from django_blinker.background import in_background
from django_blinker.background.builtin_signals import reducer
from tests.support import background_receivers as receivers


@pytest.mark.parametrize(
    "name",
    ["pre_init", "post_init", "setting_changed", "got_request_exception", "user_login_failed"],
)
def test_signals_with_unserialisable_kwargs_are_refused_at_connect_time(name):
    with pytest.raises(ValueError, match=f"{name} cannot have background receivers"):
        in_background(signals.namespace[name], receivers.author_saved)


def test_a_request_travels_without_its_headers_cookies_or_body():
    reduce = reducer(signals.request_started)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/pay/",
        "HTTP_COOKIE": "sessionid=secret",
        "HTTP_AUTHORIZATION": "Bearer secret",
        "wsgi.input": object(),
    }
    scope = {"type": "http", "path": "/pay/", "headers": [(b"cookie", b"secret")]}
    scope["query_string"] = b"a=1"
    reduced = reduce(None, {"environ": environ, "scope": scope})
    assert reduced == {
        "environ": {"REQUEST_METHOD": "POST", "PATH_INFO": "/pay/"},
        "scope": {"type": "http", "path": "/pay/", "query_string": "a=1"},
    }


def test_a_namesake_of_a_builtin_signal_is_not_reduced():
    from blinker import Namespace

    assert reducer(Namespace().signal("request_started")) is None
