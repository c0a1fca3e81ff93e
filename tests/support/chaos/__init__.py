"""Processes that tests/test_chaos.py starts: settings, Celery app, sender and relay loop."""
