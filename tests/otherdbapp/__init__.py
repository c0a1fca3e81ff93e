"""Models that live on the "other" database alias (tests/routers.py): tests/test_databases.py."""
