"""django_blinker.delivery.limits: a message's size and its JSON nesting, measured without
reading it."""

from __future__ import annotations

import json

import pytest

from django_blinker.delivery import limits


def nested_text(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_message_size_counts_utf8_bytes():
    assert limits.message_size("abc", 10) == 3
    assert limits.message_size("€uro", 10) == 6
    assert limits.message_size("🐍", 10) == 4


def test_a_message_with_more_characters_than_the_limit_is_measured_by_its_length():
    # Already over the limit: encoding it to count its bytes exactly would copy it.
    assert limits.message_size("€" * 11, 10) == 11


def test_oversize_names_the_size_and_the_setting(settings):
    settings.DJANGO_BLINKER = {"PAYLOAD_MAX_BYTES": 4096}
    assert limits.oversize("x" * 4096) is None
    assert limits.oversize("x" * 4097) == (
        "a message of 4,097 bytes or more, over DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = 4096: "
        "not read"
    )
    assert limits.oversize("€" * 1366) == (
        "a message of 4,098 bytes or more, over DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = 4096: "
        "not read"
    )


def test_json_nested_deeper_than_any_payload_within_the_depth_is_found_without_parsing(settings):
    settings.DJANGO_BLINKER = {"PAYLOAD_MAX_DEPTH": 4}
    levels = limits.json_levels(4)
    assert limits.nests_too_deep(nested_text(levels)) is None
    assert limits.nests_too_deep(nested_text(levels + 1)) == (
        f"JSON nested {levels + 1} levels deep, deeper than any event within "
        f"DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 4 can be ({levels}): not parsed"
    )
    with pytest.raises(RecursionError):
        json.loads(nested_text(100_000))
    assert "JSON nested 100000 levels deep" in limits.nests_too_deep(nested_text(100_000))


def test_brackets_inside_strings_are_not_nesting(settings):
    settings.DJANGO_BLINKER = {"PAYLOAD_MAX_DEPTH": 4}
    text = json.dumps({"note": "[{" * 1000 + '\\"]' + "[" * 1000, "list": [[1], [2], [3]]})
    assert limits.nests_too_deep(text) is None
    assert limits.nests_too_deep(text.replace("[[1]", "[" * 30 + "1" + "]" * 29)) is not None


def test_the_error_names_its_setting_and_limit():
    error = limits.too_deep(32)
    assert isinstance(error, ValueError)
    assert (error.setting, error.limit) == ("PAYLOAD_MAX_DEPTH", 32)
    assert str(error) == (
        "nested more than 32 containers deep, or containing itself "
        "(DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 32)"
    )
