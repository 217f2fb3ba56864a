"""How long the command line takes to answer before doing any work: what every command pays first.

Run: python bench/startup.py [RUNS]  (prints the median wall time of each command over RUNS runs, default 9)

Each command runs in a fresh interpreter (subprocess), as a user types it: the figure includes
Python's own start-up, the console script and every module the command imports. The target is
under 0.3 s for `relance --version` and `relance --help` (imports are lazy: a command module
imports the store, the engine or rich tables only when the command runs).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (("--version",), ("--help",), ("run", "--help"), ("case", "show", "--help"))


def relance() -> list[str]:
    """The installed console script next to this interpreter, else `python -m engine.cli.main`."""
    script = Path(sys.executable).with_name("relance")
    if script.exists():
        return [str(script)]
    found = shutil.which("relance")
    return [found] if found else [sys.executable, "-m", "engine.cli.main"]


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    base = relance()
    python = median_seconds([sys.executable, "-c", "pass"], runs)
    print(f"{'python -c pass':<28} {python:6.3f} s  (the interpreter alone)")
    for args in COMMANDS:
        seconds = median_seconds([*base, *args], runs)
        print(f"{'relance ' + ' '.join(args):<28} {seconds:6.3f} s  (median of {runs})")


if __name__ == "__main__":
    main()
