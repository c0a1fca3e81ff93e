"""Which values of an event are secrets, and the copy of a payload that pages and logs show.

A value is sensitive when it is

- the ``password`` field of a user model (any subclass of ``AbstractBaseUser``);
- a model field, keyword argument or dictionary key whose name looks secret
  (:func:`secret_name`);
- a model field that ``DJANGO_BLINKER["REDACTED_FIELDS"]`` names as
  ``"app_label.ModelName.field"``.

Sensitive model fields never travel: :mod:`django_blinker.delivery.codec` leaves them out of a
``$snapshot`` (the worker finds them deferred), and ``field_changed``, ``pre_update`` and
``post_update`` carry :data:`SUBSTITUTE` for their values
(:mod:`django_blinker.background.builtin_signals`). Other keyword arguments travel as the
sender chose them; :func:`redacted` hides them wherever a payload is shown. A primary key
always travels, since the worker fetches the row by it; pages hide a sensitive one too.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model

from .. import conf

SUBSTITUTE = "********************"
"""What a page or a log shows instead of a sensitive value (as Django's error pages do)."""

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Parts of a name, lower-cased, that mark a secret: Django's hidden-settings words (API, AUTH,
# TOKEN, KEY, SECRET, PASS, SIGNATURE, HTTP_COOKIE), matched on whole parts so that
# "author", "monkey" and "passenger" stay visible, plus a few words glued together
# ("passwordhash", "accesstoken", "apikey").
_SECRET_PART = re.compile(
    r"pass|pwd|auth|authorization|credentials?|cookies?|signatures?|keys?"
    r"|.*(?:password|passwd|passphrase|passcode|secret)s?|(?:password|passwd).+"
    r"|.*token|(?:api|access|private|secret|session|signing|encryption)keys?"
)
# "key" names a secret unless the word before it says what kind of key: a primary key, a
# sort key and a cache key are not secrets.
_PLAIN_KEYS = frozenset(
    {
        *("primary", "foreign", "natural", "composite", "unique", "sort", "partition"),
        *("lookup", "cache", "public", "idempotency", "dedup", "dedupe", "group", "order"),
    }
)


def name_parts(name: str) -> list[str]:
    """The words of ``name``, lower-cased: ``"apiKey"`` and ``"API_KEY"`` are ``api``, ``key``."""
    return [word.lower() for word in _WORDS.findall(name)]


@functools.lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a field, keyword or key called ``name`` looks like it holds a secret.

    ``name`` is cut into words (``snake_case``, ``camelCase``, ``kebab-case``); it is secret
    when one word is ``pass``, ``pwd``, ``auth``, ``authorization``, ``credential(s)``,
    ``cookie(s)``, ``signature(s)`` or ``key(s)`` (but for a ``primary``, ``foreign``,
    ``sort``, ``cache``, ``public`` ... key), or ends in ``password``, ``passwd``,
    ``passphrase``, ``passcode``, ``secret(s)`` or ``token`` (``passwordhash``,
    ``accesstoken``), or is one of ``apikey``, ``sessionkey`` and their kind. So
    ``password_hash``, ``api_key``, ``auth_token``, ``otp_secret``, ``session_key`` and
    ``HTTP_COOKIE`` are secret; ``author``, ``monkey``, ``passenger``, ``secretary``,
    ``keyword``, ``primary_key``, ``sort_key`` and ``max_tokens`` (a count, as
    ``tokens`` mostly is) are not.
    """
    words = name_parts(name)
    for index, word in enumerate(words):
        if not _SECRET_PART.fullmatch(word):
            continue
        if word in ("key", "keys") and index and words[index - 1] in _PLAIN_KEYS:
            continue
        return True
    return False


def field_label(model: type[Model], name: str) -> str:
    """``"app_label.ModelName.field"``, as ``REDACTED_FIELDS`` names a field."""
    return f"{model._meta.label}.{name}"


def _user_model_password(model: type[Model], name: str) -> bool:
    from django.contrib.auth.base_user import AbstractBaseUser

    return name == "password" and issubclass(model, AbstractBaseUser)


@functools.lru_cache(maxsize=1024)
def _sensitive(model: type[Model], named: frozenset[str]) -> frozenset[str]:
    found = set()
    for field in model._meta.concrete_fields:
        owners = {model, field.model, model._meta.concrete_model}
        if (
            secret_name(field.name)
            or secret_name(field.attname)
            or any(_user_model_password(owner, field.name) for owner in owners if owner)
            or any(field_label(owner, field.name) in named for owner in owners if owner)
        ):
            found.add(field.attname)
    return frozenset(found)


def sensitive_fields(model: type[Model]) -> frozenset[str]:
    """The ``attname`` of each concrete field of ``model`` whose value is sensitive."""
    return _sensitive(model, frozenset(conf.settings.redacted_fields))


def sensitive_field(model: Any, name: Any) -> bool:
    """Whether ``name`` (a field's name or ``attname``) is a sensitive field of ``model``
    (any other sender: whether ``name`` looks secret)."""
    if not isinstance(name, str):
        return False
    if not (isinstance(model, type) and issubclass(model, Model)):
        return secret_name(name)
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return secret_name(name)
    return getattr(field, "attname", name) in sensitive_fields(model) or secret_name(name)


def sensitive_key(model: type[Model]) -> bool:
    """Whether a field of ``model``'s primary key is sensitive (``Session.session_key``)."""
    hidden = sensitive_fields(model)
    return any(field.attname in hidden for field in model._meta.pk_fields)


def _model(label: Any) -> type[Model] | None:
    if not isinstance(label, str):
        return None
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _hide_names(data: dict[str, Any]) -> dict[str, Any]:
    return {key: SUBSTITUTE if secret_name(key) else _hide(value) for key, value in data.items()}


def _hide_fields(label: Any, values: Any) -> Any:
    if not isinstance(values, dict):
        return _hide(values)
    model = _model(label)
    hidden = sensitive_fields(model) if model is not None else frozenset()
    return {
        name: SUBSTITUTE if name in hidden or secret_name(name) else _hide(value)
        for name, value in values.items()
    }


def _hide(data: Any) -> Any:
    if isinstance(data, list):
        return [_hide(item) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, inner),) = data.items()
        if tag == "$snapshot" and isinstance(inner, list) and len(inner) == 2:
            return {tag: [inner[0], _hide_fields(inner[0], inner[1])]}
        if tag == "$model" and isinstance(inner, list) and len(inner) == 2:
            model = _model(inner[0])
            key = SUBSTITUTE if model is not None and sensitive_key(model) else inner[1]
            return {tag: [inner[0], key]}
        if tag == "$dict" and isinstance(inner, list):
            return {tag: [_hide_pair(pair) for pair in inner]}
        if tag.startswith("$"):
            return {tag: _hide(inner)}
    return _hide_names(data)


def _hide_pair(pair: Any) -> Any:
    if isinstance(pair, list) and len(pair) == 2:
        key, value = pair
        if isinstance(key, str) and secret_name(key):
            return [key, SUBSTITUTE]
        return [_hide(key), _hide(value)]
    return _hide(pair)


def redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` for pages and logs: every sensitive value in its ``sender``,
    ``kwargs`` and carried ``context`` replaced by :data:`SUBSTITUTE`, at any depth. The
    event's own fields (id, signal, receiver, outbox, trace) are kept."""
    copy = dict(payload)
    for name in ("sender", "kwargs", "context"):
        if name in copy:
            copy[name] = _hide(copy[name])
    return copy
