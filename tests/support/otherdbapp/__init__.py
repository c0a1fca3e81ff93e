"""Models that live on the "other" database alias (tests/support/routers.py):
tests/test_databases.py."""
