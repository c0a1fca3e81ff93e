"""The CI rule of tests/conftest.py, through a real pytest run: a test that needs a missing
service is skipped on a laptop and fails under ``CI=true``, and so does the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_serverdb_tests(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DJANGO_BLINKER_DB")}
    if ci:
        env["CI"] = "true"
    # SQLite: every "serverdb" test lacks its service; -x stops at the first one.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_databases.py", "-m", "serverdb", "-x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_missing_service_skips_on_a_laptop():
    result = run_serverdb_tests(ci=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert " skipped" in result.stdout
    assert " failed" not in result.stdout


def test_a_missing_service_fails_the_test_and_the_run_under_ci():
    result = run_serverdb_tests(ci=True)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "CI=true and a 'serverdb' test cannot run" in result.stdout
    assert " skipped" not in result.stdout.splitlines()[-1]


def test_no_test_skips_itself():
    """A skip decided inside a test (``skipif``, ``pytest.skip``, ``importorskip``, unittest's
    ``skipTest``) escapes the service markers' rule; only tests/conftest.py may skip."""
    skipping = ("skipif(", "pytest.skip(", "importorskip(", "skipTest(", "unittest.skip")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "tests").rglob("*.py")
        if path != ROOT / "tests" / "conftest.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(word in line for word in skipping) and "skipping = " not in line
    ]
    assert found == []
