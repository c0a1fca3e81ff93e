"""Values nested as deep as a limit test wants."""

from __future__ import annotations

from typing import Any


def nest(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` inside ``depth`` lists, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value
