"""Models and background receivers of tests/test_chaos.py (connected only in its processes)."""
