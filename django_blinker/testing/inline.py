"""Running after-commit and background receivers in the test's own process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.test import TestCase

from ..after_commit import collect_failures
from ..background import run_inline


@contextlib.contextmanager
def run_receivers_inline(
    *, using: str = DEFAULT_DB_ALIAS
) -> Generator[list[Callable[[], Any]], None, None]:
    """Run after-commit and background receivers in this process when the block ends.

    Inside a ``TestCase`` (or a pytest ``db`` test) nothing commits, so on-commit callbacks
    registered on ``using`` during the block are run at its end, as Django's
    ``captureOnCommitCallbacks(execute=True)`` does; background receivers run there too
    instead of being enqueued. Yields the list of callbacks that ran. A receiver that
    raised at commit is logged, as in production, and re-raised when the block ends, once
    every callback ran (an ``ExceptionGroup`` when several raised).
    """
    with (
        collect_failures() as failures,
        run_inline(),
        TestCase.captureOnCommitCallbacks(using=using, execute=True) as callbacks,
    ):
        yield callbacks
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ExceptionGroup("receivers raised at commit", failures)
