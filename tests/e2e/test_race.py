"""Four `relance worker` processes started together on one PostgreSQL database: they split the cases
between them, and every case is opened once and every step happens exactly once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.e2e.test_crash import AS_OF, RELANCE, _env, letter_files, make_workspace

from engine.store.database import connect
from engine.store.models import Case, Document, Event, Invoice

pytestmark = pytest.mark.slow

CASES = 5000
WORKERS = 4


def test_four_workers_share_the_cases_and_take_each_step_once(postgres_url: str, tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, postgres_url, CASES)
    command = [RELANCE, "--db", postgres_url, "--workspace", str(workspace), "worker", "--once", "--json",
               "--as-of", AS_OF.isoformat()]
    processes = [subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(WORKERS)]
    passes = []
    for process in processes:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, err
        passes.append(json.loads(out.strip().splitlines()[-1]))

    # The work was shared, and no case was looked at by two workers.
    assert sum(p["cases_opened"] for p in passes) == CASES
    assert sum(p["cases_examined"] for p in passes) == CASES
    assert sum(p["letters"] for p in passes) == CASES
    assert sum(1 for p in passes if p["cases_examined"] > 0) >= 2, passes
    assert all(p["errors"] == [] for p in passes)

    store = connect(postgres_url)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == CASES  # one case per debtor
        assert session.scalar(select(func.count()).select_from(Invoice).where(Invoice.case_id.is_(None))) == 0
        steps = session.execute(
            select(Event.case_id, Event.step_key, func.count()).where(Event.kind == "state_change")
            .group_by(Event.case_id, Event.step_key)
        ).all()
        assert len(steps) == CASES and {count for *_key, count in steps} == {1}
        assert {key for _case, key, _count in steps} == {"1:reminder1"}
        opened = session.execute(
            select(Event.case_id, func.count()).where(Event.kind == "case_opened").group_by(Event.case_id)
        ).all()
        assert len(opened) == CASES and {count for _case, count in opened} == {1}
        documents = session.execute(
            select(Document.case_id, Document.step_key, func.count(), func.min(Document.path))
            .group_by(Document.case_id, Document.step_key)
        ).all()
        assert len(documents) == CASES and {count for _c, _k, count, _p in documents} == {1}
        recorded = {path for *_rest, path in documents}
    store.dispose()
    on_disk = {str(p.relative_to(workspace / "output")) for p in letter_files(workspace)}
    assert on_disk == recorded
