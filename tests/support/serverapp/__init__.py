"""The app that tests/test_servers.py runs under gunicorn and uvicorn."""
