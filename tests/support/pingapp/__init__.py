"""An app with one bridged signal that a view sends, served with the DJANGO_BLINKER
setting under test (tests/support/ping_settings.py)."""
