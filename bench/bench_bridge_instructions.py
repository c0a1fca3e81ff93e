"""Issue 2 benchmarks as instruction counts: deterministic where timings are noisy.

Runs each workload of ``bench._bridge_workload`` under ``valgrind --tool=callgrind`` with
0 and with N passes and subtracts, so start-up is not counted; prints the ratios of
P1 (installed and idle vs. not installed) and P2 (one Blinker receiver through the
bridge vs. one native Django receiver). Instructions are not seconds, but on the same
interpreter and inputs they repeat to the instruction, so a 1% target can be checked on
a machine whose timings wander by 5%. ``python -m bench.bench_bridge_instructions``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instructions(variant: str, workload: str, passes: int) -> int:
    result = subprocess.run(
        [
            # Same hash seed and address layout in every run: dicts keyed by strings and
            # by id() then probe the same way, and the counts repeat.
            "setarch",
            platform.machine(),
            "-R",
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench._bridge_workload",
            variant,
            workload,
            str(passes),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{result.stderr}")
    return int(match.group(1).replace(",", ""))


def per_pass(variant: str, workload: str, passes: int) -> float:
    return (instructions(variant, workload, passes) - instructions(variant, workload, 0)) / passes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=3)
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)")
        return 1
    targets = {"P1": 1.01, "P2 iterate": 1.10, "P2 save": 1.02}
    rows = []
    for workload, label in (("iterate", "iterate 5,000 rows"), ("save", "500 x save()")):
        variants = ("absent", "idle", "native", "bridge")
        counts = {variant: per_pass(variant, workload, options.passes) for variant in variants}
        print(f"\n{label}: instructions per pass")
        for variant, count in counts.items():
            print(f"  {variant:<8} {count:16,.0f}")
        rows.append((f"P1 {label}", counts["idle"] / counts["absent"], targets["P1"]))
        p2 = "P2 iterate" if workload == "iterate" else "P2 save"
        rows.append((f"{p2} ({label})", counts["bridge"] / counts["native"], targets[p2]))
    print("\nSummary (instruction ratio, target):")
    for name, ratio, target in rows:
        print(f"  {name:<34} {ratio:6.4f}  (at most {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
