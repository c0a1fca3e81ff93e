"""On PostgreSQL, a NOTIFY on the outbox channel by every statement that inserts outbox
rows: delivered at commit (never for a rollback), it wakes a waiting relay."""

from __future__ import annotations

from typing import Any

from django.db import migrations

CHANNEL = "django_blinker_outbox"
_FUNCTION = "django_blinker_outbox_notify"


def _table(apps: Any) -> str:
    table: str = apps.get_model("django_blinker", "OutboxEvent")._meta.db_table
    return table


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(_table(apps))
    schema_editor.execute(
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    schema_editor.execute(
        f"CREATE TRIGGER {_FUNCTION} AFTER INSERT ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
    )


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(_table(apps))
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {_FUNCTION} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("django_blinker", "0005_paused_receiver")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
