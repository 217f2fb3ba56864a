"""`relance run --workers N` and `relance worker`: renderer processes on SQLite, parallel runs, a clean stop."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.e2e.test_crash import AS_OF, RELANCE, _env, letter_files, make_workspace, relance

from tests.smtp_server import smtp_server, smtp_toml
from tests.support import write_portfolio

from engine.app import App
from engine.cases.run import PlannedStep, RunReport
from engine.cli.main import cli
from engine.store.database import connect
from engine.store.models import Document, Event
from engine.workers import merge_reports


def test_workers_on_sqlite_render_the_letters_of_one_run(sqlite_url: str, tmp_path: Path) -> None:
    """SQLite takes one writer: `--workers 2` is one run whose letters another process renders beside it."""
    workspace = make_workspace(tmp_path, sqlite_url, 30)
    done = relance(workspace, sqlite_url, "run", "--workers", "2", "--as-of", AS_OF.isoformat(), "--json")
    totals = json.loads(done.stdout)
    assert (totals["cases_opened"], totals["steps"], totals["letters"]) == (30, 30, 30)
    assert len(letter_files(workspace)) == 30
    verified = relance(workspace, sqlite_url, "verify")
    assert "every chain and every letter verifies" in verified.stdout
    again = json.loads(relance(workspace, sqlite_url, "run", "--workers", "2", "--as-of", AS_OF.isoformat(),
                               "--json").stdout)
    assert again["steps"] == 0


@pytest.mark.parametrize(("workers", "renderers"), [(1, 0), (3, 2)])
def test_workers_on_sqlite_count_the_run_itself(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                workers: int, renderers: int) -> None:
    """`--workers N` is N processes on SQLite as on PostgreSQL: the run, and N-1 that render its letters."""
    workspace = make_workspace(tmp_path, sqlite_url, 6)
    asked: list[int] = []
    real_run = App.run

    def run(app: App, *args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["renderers"])
        return real_run(app, *args, **kwargs)

    monkeypatch.setattr(App, "run", run)
    done = CliRunner().invoke(cli, ["--db", sqlite_url, "--workspace", str(workspace), "run", "--workers",
                                    str(workers), "--as-of", AS_OF.isoformat(), "--json"])
    assert done.exit_code == 0, done.output
    assert asked == [renderers]
    assert json.loads(done.stdout)["letters"] == 6
    assert len(letter_files(workspace)) == 6


def test_dry_run_with_workers_is_refused_in_one_line(sqlite_url: str, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, sqlite_url, 3)
    done = relance(workspace, sqlite_url, "run", "--workers", "2", "--dry-run", "--as-of", AS_OF.isoformat(),
                   check=False)
    assert done.returncode == 2 and "--dry-run runs in one process" in done.stderr
    assert letter_files(workspace) == []


def test_run_with_three_workers_on_postgresql_does_every_case_once(postgres_url: str, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, postgres_url, 60)
    done = relance(workspace, postgres_url, "run", "--workers", "3", "--as-of", AS_OF.isoformat(), "--json")
    totals = json.loads(done.stdout)
    assert (totals["cases_opened"], totals["cases_examined"], totals["steps"], totals["letters"]) == (60, 60, 60, 60)
    assert len(totals["steps_detail"]) == 60
    store = connect(postgres_url)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 60
        assert session.scalar(select(func.count(func.distinct(Event.case_id))).where(Event.kind == "state_change")) == 60
    store.dispose()
    assert len(letter_files(workspace)) == 60
    again = json.loads(relance(workspace, postgres_url, "run", "--workers", "3", "--as-of", AS_OF.isoformat(),
                               "--json").stdout)
    assert again["steps"] == 0


def test_parallel_run_reports_every_workers_pdfs_and_sends_the_outbox_once(postgres_url: str, tmp_path: Path) -> None:
    """Each worker converts the letters it wrote; the e-mails of all of them leave once, after every worker,
    and the run's JSON counts them (it used to say null for both)."""
    workspace = tmp_path / "ws"
    subprocess.run([RELANCE, "init", str(workspace)], env=_env(), check=True, capture_output=True)
    relance(workspace, postgres_url, "db", "upgrade")
    relance(workspace, postgres_url, "import", *map(str, write_portfolio(tmp_path / "csv", 12, emails=True)))
    with smtp_server() as sink:
        config = workspace / "relance.toml"
        config.write_text(config.read_text(encoding="utf-8") + smtp_toml(sink.port) + 'attach = ["docx"]\n',
                          encoding="utf-8")
        done = relance(workspace, postgres_url, "run", "--workers", "2", "--pdf", "--as-of", AS_OF.isoformat(),
                       "--json")
        totals = json.loads(done.stdout)
        assert totals["letters"] == 12
        assert totals["emails"] is not None
        assert (totals["emails"]["sent"], totals["emails"]["waiting"], totals["emails"]["failed"]) == (12, 0, [])
        assert len(sink.messages) == 12 and len(set(sink.message_ids)) == 12
        assert sorted(Counter(m["X-Relance-Case"] for m in sink.messages).values()) == [1] * 12
    assert totals["pdf"] is not None and totals["pdf"]["failures"] == []
    assert 1 <= totals["pdf"]["processes"] <= 2  # one LibreOffice batch per worker that wrote letters
    assert len(list((workspace / "output").rglob("*.pdf"))) == 12


def test_worker_once_does_one_pass_and_sigterm_stops_a_waiting_worker(sqlite_url: str, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, sqlite_url, 5)
    once = relance(workspace, sqlite_url, "worker", "--once", "--json", "--as-of", AS_OF.isoformat())
    assert [json.loads(line)["letters"] for line in once.stdout.splitlines()] == [5]
    process = subprocess.Popen(
        [RELANCE, "--db", sqlite_url, "--workspace", str(workspace), "worker", "--json", "--interval", "300",
         "--as-of", AS_OF.isoformat()],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())  # the first pass is done: it now sleeps
    assert first["steps"] == 0
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert time.monotonic() - stopped_at < 5  # not the 300 s interval
    assert "stopped after 1 pass" in err


def test_merged_reports_sum_per_workflow_and_list_steps_in_case_order() -> None:
    day = date(2025, 1, 20)

    def part(examined: int, refs: list[str]) -> RunReport:
        report = RunReport(as_of=day, dry_run=False, cases_examined=examined, steps=len(refs), letters=len(refs),
                           by_state=Counter({"reminder1": len(refs)}))
        report.planned = [PlannedStep(ref, "escalate", "due", "reminder1", day, ("relance_1.docx",)) for ref in refs]
        return report

    merged = merge_reports([[part(2, ["C3", "C1"]), part(0, [])], [part(1, ["C2"]), part(4, ["B9"])]])
    assert [r.cases_examined for r in merged] == [3, 4]
    assert [s.case_ref for s in merged[0].planned] == ["C1", "C2", "C3"]
    assert merged[0].by_state == Counter({"reminder1": 3}) and merged[1].letters == 1


def test_a_dry_run_says_which_cases_it_would_open_not_that_it_opened_them(sqlite_url: str, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, sqlite_url, 3)
    done = relance(workspace, sqlite_url, "run", "--dry-run", "--as-of", AS_OF.isoformat())
    summary = " ".join(done.stdout.split())
    assert "3 case(s) would be opened, 3 examined; would take 3 step(s)" in summary
    assert "case(s) opened" not in summary
    real = relance(workspace, sqlite_url, "run", "--as-of", AS_OF.isoformat())
    assert "3 case(s) opened, 3 examined; took 3 step(s)" in " ".join(real.stdout.split())
