"""The CI rule of tests/conftest.py, through a real pytest run: a test that needs a missing
service is skipped on a laptop and fails under ``CI=true``, and so does the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(arguments: list[str], ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DJANGO_BLINKER_DB")}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_serverdb_tests(ci: bool) -> subprocess.CompletedProcess[str]:
    # SQLite: every "serverdb" test lacks its service; -x stops at the first one.
    return run_pytest(["tests/test_databases.py", "-m", "serverdb", "-x"], ci)


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
    ``skipTest``, Django's ``skipUnlessDBFeature``) or an expected failure escapes the
    service markers' rule; only tests/conftest.py may skip."""
    skipping = (
        "skipif(",
        "pytest.skip(",
        "mark.skip",
        "importorskip(",
        "skipTest(",
        "unittest.skip",
        "skipUnlessDBFeature",
        "skipIfDBFeature",
        "xfail",
    )
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "tests").rglob("*.py")
        if path != ROOT / "tests" / "conftest.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(word in line for word in skipping) and path != Path(__file__)
    ]
    assert found == []


def test_any_other_skip_fails_its_test_under_ci(tmp_path):
    """What no marker names (a plugin's skip, Django's ``skipUnlessDBFeature``) fails too:
    tests/conftest.py as a plugin, run over a test file outside the tree that skips."""
    test = tmp_path / "test_skipping.py"
    test.write_text(
        "import pytest\n\n"
        "def test_skipped_by_a_helper():\n"
        "    pytest.skip('a helper decided')\n\n"
        "def test_runs():\n"
        "    assert True\n"
    )
    arguments = ["-c", "pyproject.toml", "--rootdir", str(ROOT), "-p", "tests.conftest"]
    arguments += ["-p", "no:cacheprovider", str(test)]
    results = {ci: run_pytest(arguments, ci) for ci in (False, True)}
    laptop, ci_run = results[False], results[True]
    assert laptop.returncode == 0, laptop.stdout[-2000:]
    assert "1 passed, 1 skipped" in laptop.stdout
    assert ci_run.returncode == 1, ci_run.stdout[-2000:]
    assert "1 failed, 1 passed" in ci_run.stdout
    assert "CI=true: this test did not run (Skipped: a helper decided)" in ci_run.stdout
