"""Crash safety: a real `relance run` killed with SIGKILL again and again, then run to completion,
leaves every case with exactly one letter per step, a complete verified timeline and no stray file."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.store.database import connect
from engine.store.models import Case, Document, Event
from tests.support import write_portfolio

pytestmark = pytest.mark.slow

RELANCE = str(Path(sys.executable).parent / "relance")
CASES = 2000
AS_OF = date(2025, 1, 20)  # ten days after every invoice fell due: each case opens and takes reminder1


def relance(workspace: Path, url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The installed command, on this workspace and database, its output captured."""
    done = subprocess.run([RELANCE, "--db", url, "--workspace", str(workspace), *args], env=_env(),
                          capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"relance {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def start(workspace: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([RELANCE, "--db", url, "--workspace", str(workspace), *args], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_workspace(tmp_path: Path, url: str, cases: int) -> Path:
    """`relance init`, a generated portfolio, `relance db upgrade` and `relance import`."""
    workspace = tmp_path / "ws"
    subprocess.run([RELANCE, "init", str(workspace)], env=_env(), check=True, capture_output=True)
    files = write_portfolio(tmp_path / "csv", cases)
    relance(workspace, url, "db", "upgrade")
    relance(workspace, url, "import", *map(str, files))
    return workspace


def letter_files(workspace: Path) -> list[Path]:
    return list((workspace / "output").rglob("*.docx"))


def test_sigkill_at_many_moments_then_a_full_run_loses_and_duplicates_nothing(database_url: str,
                                                                              tmp_path: Path) -> None:
    kill_again_and_again(database_url, tmp_path)


def test_a_run_with_renderer_processes_killed_again_and_again_loses_and_duplicates_nothing(sqlite_url: str,
                                                                                         tmp_path: Path) -> None:
    """SQLite with --workers 2: letters render in another process and a batch inserts the rows of the cases
    whose letters are back while the others render; a kill at any moment still leaves nothing half done."""
    # More cases: with a renderer the runs go fast enough that six kills could leave no work to the last run.
    kill_again_and_again(sqlite_url, tmp_path, "--workers", "2", cases=5000)


def kill_again_and_again(database_url: str, tmp_path: Path, *options: str, cases: int = CASES) -> None:
    """`relance run` (with ``options``) killed at six moments, then run to completion, then checked."""
    workspace = make_workspace(tmp_path, database_url, cases)
    rng = random.Random(6)
    # Moments: while cases are being opened (before any letter), then after N letters exist, then
    # at seeded random delays once letters flow.
    moments: list[Callable[[], bool]] = []
    began = [0.0]
    moments.append(lambda: _opened_cases(database_url) > 0)
    for threshold in (1, 300, 700):
        moments.append(lambda threshold=threshold: len(letter_files(workspace)) >= threshold)
    for _ in range(2):
        delay = rng.uniform(0.5, 2.0)
        moments.append(lambda delay=delay: time.monotonic() - began[0] >= delay
                       and len(letter_files(workspace)) > 0)
    killed = 0
    for moment in moments:
        process = start(workspace, database_url, "run", "--as-of", AS_OF.isoformat(), *options)
        began[0] = time.monotonic()
        while process.poll() is None and not moment():
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()
    assert killed >= 5, f"only {killed} runs were still going when their moment came"
    assert len(letter_files(workspace)) < cases, "the killed runs should not have finished the work"

    relance(workspace, database_url, "run", "--as-of", AS_OF.isoformat(), *options)

    store = connect(database_url)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == cases
        assert session.scalars(select(Case.state).distinct()).all() == ["reminder1"]
        # Each case: opened once, one state change, one letter event, one document.
        per_case = session.execute(
            select(Event.case_id, Event.kind, func.count()).group_by(Event.case_id, Event.kind)
        ).all()
        counts: dict[str, list[int]] = {}
        for _case, kind, count in per_case:
            counts.setdefault(kind, []).append(count)
        for kind in ("case_opened", "state_change", "letter"):
            assert sorted(set(counts[kind])) == [1] and len(counts[kind]) == cases, kind
        documents = session.execute(select(Document.case_id, Document.step_key, Document.path)).all()
        assert len(documents) == cases
        assert len({(case, key) for case, key, _ in documents}) == cases
        recorded = {path for _, _, path in documents}
    store.dispose()

    report = json.loads(relance(workspace, database_url, "verify", "--repair", "--json").stdout)
    assert report["ok"], report["findings"][:5]
    assert set(report["removed"]) == set(report["orphans"])
    for path in map(Path, report["removed"]):
        assert not path.exists()
    on_disk = {str(p.relative_to(workspace / "output")) for p in letter_files(workspace)}
    assert on_disk == recorded  # every letter recorded is there, and nothing else
    assert not [p for p in (workspace / "output").rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    again = json.loads(relance(workspace, database_url, "verify", "--json").stdout)
    assert again["ok"] and again["orphans"] == []
    # And a further run that day finds nothing left to do.
    totals = json.loads(relance(workspace, database_url, "run", "--as-of", AS_OF.isoformat(), "--json").stdout)
    assert (totals["steps"], totals["letters"], totals["cases_opened"]) == (0, 0, 0)


def _opened_cases(url: str) -> int:
    """Cases committed so far, read through a fresh connection (the run is another process)."""
    store = connect(url)
    try:
        with store.session() as session:
            return session.scalar(select(func.count()).select_from(Case)) or 0
    except Exception:  # the schema may be mid-creation; not yet, then
        return 0
    finally:
        store.dispose()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
    env["COLUMNS"] = "200"
    return env
