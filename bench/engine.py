"""Benchmark: microseconds per case to advance 100,000 in-memory cases one step (shipped B2B policy).

Run: python bench/engine.py [N]
Target: <= 25 us per case. Letter templates are not read: the workflow is loaded against a temporary
copy with empty letter files so the figure measures the engine only.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name shadows the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from engine.core.case import CaseState  # noqa: E402
from engine.core.machine import Escalator  # noqa: E402
from engine.core.workflow import load_workflow  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LETTERS = ("relance_1", "relance_2", "relance_3", "mise_en_demeure", "transmission_contentieux")


def shipped_b2b(folder: Path) -> Path:
    """The shipped workflow file beside a letters folder with (empty) templates, as the file expects."""
    (folder / "workflows").mkdir()
    (folder / "letters" / "fr").mkdir(parents=True)
    for name in LETTERS:
        (folder / "letters" / "fr" / f"{name}.docx").write_bytes(b"")
    return Path(shutil.copy(REPO / "workflows" / "fr-b2b.yaml", folder / "workflows"))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        engine = Escalator(load_workflow(shipped_b2b(Path(tmp))))
    as_of = date(2026, 3, 2)
    states = ("due", "reminder1", "reminder2", "reminder3", "formal_notice")
    cases = [
        CaseState(state=states[i % 5], state_entered=as_of - timedelta(days=20 + i % 30),
                  due_date=as_of - timedelta(days=60 + i % 50), principal=Decimal(100 + i % 5000))
        for i in range(count)
    ]
    start = time.perf_counter()
    steps = sum(len(engine.advance(case, as_of)) for case in cases)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    checks = sum(engine.next_check(case) is not None for case in cases)
    check_elapsed = time.perf_counter() - start
    print(f"advance: {count} cases, {steps} steps, {elapsed:.3f} s, {elapsed / count * 1e6:.1f} us per case"
          " (target <= 25 us)")
    print(f"next_check: {checks} dated, {check_elapsed / count * 1e6:.1f} us per case")
    print("command: python bench/engine.py", count)


if __name__ == "__main__":
    main()
