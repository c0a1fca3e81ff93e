"""Connects nothing: tests/test_apps.py checks that autodiscovery imports it."""
