"""The test settings' database router: ``tests.support.otherdbapp`` on "other", the rest on
"default".

django-blinker's own tables (outbox, delivered events) stay on "default" only, so that the
rest of the suite sees one outbox database, as before.
"""

from __future__ import annotations

from typing import Any

OTHER_APPS = frozenset({"otherdbapp"})
# django-tasks-db's migration 0019 introspects its table without asking the router, which
# fails on MySQL and MariaDB where the table is missing: its table exists on every alias
# (the backend still writes to "default").
EVERY_ALIAS_APPS = frozenset({"django_tasks_database"})


class OtherDatabaseRouter:
    """Reads, writes and migrations of ``OTHER_APPS`` go to "other", every other app's to
    "default"; relations only within one alias."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return "other" if model._meta.app_label in OTHER_APPS else None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return "other" if model._meta.app_label in OTHER_APPS else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return (obj1._meta.app_label in OTHER_APPS) == (obj2._meta.app_label in OTHER_APPS)

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        if app_label in EVERY_ALIAS_APPS:
            return True
        return db == ("other" if app_label in OTHER_APPS else "default")
