"""A workspace whose workflows lived through several versions: a case still in a state only an older version
has is listed, filtered and named as that version names it, on the web and on the command line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqlalchemy import select

from engine.app import App
from engine.cli.main import cli
from engine.store.models import Case, Task, WorkflowVersion
from tests.e2e.web_client import client, open_app, sign_in
from tests.support import WEB_AS_OF, web_workspace

CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}


def new_version(path: Path, edits: dict[str, str]) -> None:
    """The workflow file raised one version, with each text of ``edits`` replaced (a state renamed...)."""
    text = path.read_text(encoding="utf-8")
    version = int(re.search(r"^version: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    text = re.sub(r"^version: \d+", f"version: {version + 1}", text, count=1, flags=re.M)
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def renamed(tmp_path: Path, database_url: str) -> Iterator[tuple[App, Path, str]]:
    """Cases in `reminder1` on the shipped version; then both workflows rename it `first_reminder` (labelled
    « Relance amiable ») and relabel `reminder2` « Relance recommandée », in a new version."""
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=3)
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"reminder1": "first_reminder", "Première relance": "Relance amiable",
                                                "Deuxième relance": "Relance recommandée"})
    app = open_app(root, database_url)
    yield app, root, database_url
    app.store.dispose()


def test_a_state_only_an_older_version_has_is_filtered_and_labelled_on_the_web(renamed) -> None:
    app, _root, _db = renamed
    http = client(app)
    sign_in(http, "legal")  # who may jump a case: the page offers its states
    answer = http.get("/cases?etat=reminder1")
    assert answer.status_code == 200, answer.text  # was 400: « État inconnu » for a state 3 cases are in
    assert len(re.findall(r'<a href="/cases/(\d+)">', answer.text)) == 3
    assert "<td>Première relance</td>" in answer.text and "<td>reminder1</td>" not in answer.text
    # Offered by the filter, beside the current version's states; a typo is still refused in French.
    assert '<option value="reminder1" selected>Première relance</option>' in answer.text
    assert '<option value="first_reminder" >Relance amiable</option>' in answer.text
    refused = http.get("/cases?etat=reminder9")
    assert refused.status_code == 400 and "État inconnu « reminder9 »" in refused.text
    assert "reminder1 (Première relance)" in refused.text
    # A case's page names its state as its version does, and offers that version's states to jump to.
    case_id = re.search(r'<a href="/cases/(\d+)">', answer.text).group(1)  # type: ignore[union-attr]
    page = http.get(f"/cases/{case_id}").text
    assert '<strong id="case-state">Première relance</strong>' in page
    assert '<option value="reminder2">Deuxième relance</option>' in page  # version 3's label, not « recommandée »
    assert 'value="first_reminder"' not in page  # version 3 has no such state: `jump` would refuse it
    printable = http.get(f"/cases/{case_id}/timeline").text
    assert "Première relance" in printable and "état : reminder1" not in printable


def test_a_state_only_an_older_version_has_is_known_to_case_list(renamed) -> None:
    _app, root, db = renamed

    def relance(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", db, *args], env=CLEAN_ENV)
        assert "Traceback" not in result.output, result.output
        return result.exit_code, result.output

    code, out = relance("case", "list", "--state", "reminder1", "--json")
    assert code == 0 and out.count('"state": "reminder1"') == 3
    code, out = relance("case", "list", "--state", "reminder9")  # was: "0 case(s)", as if none were in it
    assert code == 1 and "unknown state 'reminder9'" in out and "reminder1 (Première relance)" in out
    assert len(out.strip().splitlines()) == 1


def test_the_funnel_counts_cases_in_a_state_only_an_older_version_has_in_its_place_on_the_ladder(renamed) -> None:
    app, root, db = renamed
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", db, "report", "--json",
                                      "--as-of", WEB_AS_OF.isoformat()], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    steps = json.loads(result.output)["funnel"]["steps"]
    ladder = [s["state"] for s in steps if s["stage"] == "escalation"]
    # Was: no `reminder1` row at all, its 3 cases counted nowhere but in the total.
    assert ladder[:3] == ["due", "reminder1", "first_reminder"], ladder
    reminder1 = next(s for s in steps if s["state"] == "reminder1")
    assert (reminder1["label"], reminder1["reached"], reminder1["current"]) == ("Première relance", 3, 3)
    http = client(app)
    sign_in(http, "viewer")
    assert "Première relance" in http.get("/report").text  # the web's report draws the same funnel


def test_a_case_on_a_version_whose_letter_is_gone_still_shows_and_the_run_names_that_version(
        tmp_path: Path, database_url: str) -> None:
    """Version 4 renames the first reminder's letter, and the old file goes: version 3, which cases still run
    on, names a letter no longer there. Its cases' pages still show (a 500 before), and the run refuses in one
    line that names version 3's kept text (it named the file of today, at a line that is not that state's)."""
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=2)
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"relance_1.docx": "relance_amiable.docx"})
    letters = root / "letters" / "fr"
    (letters / "relance_1.docx").rename(letters / "relance_amiable.docx")
    app = open_app(root, database_url)
    try:
        http = client(app, raise_server_exceptions=False)
        sign_in(http, "legal")
        case_id = re.search(r'<a href="/cases/(\d+)">', http.get("/cases").text).group(1)  # type: ignore[union-attr]
        for url in (f"/cases/{case_id}", f"/cases/{case_id}/timeline"):
            answer = http.get(url)
            assert answer.status_code == 200, (url, answer.text[-400:])
    finally:
        app.store.dispose()
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", database_url, "run", "--as-of", "2025-03-01"],
                                env=CLEAN_ENV)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    said = result.output.strip()
    assert "fr-b2b.yaml (version 3, as kept in the database):" in said and "relance_1.docx" in said, said


def test_the_task_queue_names_each_case_state_and_letters_as_its_own_version_does(
        tmp_path: Path, database_url: str) -> None:
    """Version 4 relabels `reminder1` « Relance amiable »; the cases' call tasks, opened by version 3's first
    reminder, are still open. The queue named their step, and the letters of their history, as the current
    version does, but those cases run on version 3, whose letters and timelines say « Première relance »."""
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=2)
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"Première relance": "Relance amiable"})
    app = open_app(root, database_url)
    try:
        with app.session() as session:
            assert set(session.scalars(select(Case.workflow_version))) == {3}
            assert set(session.scalars(select(Task.state).where(Task.done_on.is_(None)))) == {"reminder1"}
        http = client(app)
        sign_in(http, "collector")
        queue = http.get("/tasks?toutes=1").text
        assert queue.count("Appel (Première relance)") == 2, queue
        assert "Relance amiable" not in queue
        assert queue.count("courrier Première relance") == 2  # the letters of the history, as version 3 names them
    finally:
        app.store.dispose()
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", database_url, "tasks", "--json",
                                      "--as-of", WEB_AS_OF.isoformat()], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    tasks = json.loads(result.output)
    assert [t["state_label"] for t in tasks] == ["Première relance"] * 2, tasks
    assert all(t["history"] and t["history"][0].endswith("courrier Première relance (courriel)") for t in tasks), tasks


def test_the_state_filter_offers_no_state_of_a_version_no_case_ran_on(tmp_path: Path, database_url: str) -> None:
    """Version 4 renames `reminder1` `first_reminder` and is kept (a command read it) before any case opened on
    it; version 5 renames it again `premier_rappel`. No case ever was in `first_reminder`: the filter offered it."""
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=1)
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"reminder1": "first_reminder"})
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", database_url, "run", "--dry-run",
                                      "--as-of", WEB_AS_OF.isoformat()], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output  # version 4 is now kept, with no case on it
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"first_reminder": "premier_rappel"})
    app = open_app(root, database_url)
    try:
        with app.session() as session:
            kept = set(session.scalars(select(WorkflowVersion.version)))
            assert {3, 4} <= kept, kept
        http = client(app)
        sign_in(http, "viewer")
        listed = http.get("/cases").text
        assert 'value="premier_rappel"' in listed and 'value="reminder1"' in listed  # current, and the cases' own
        assert 'value="first_reminder"' not in listed, listed
        assert http.get("/cases?etat=first_reminder").status_code == 400
    finally:
        app.store.dispose()
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", database_url, "case", "list", "--state",
                                      "first_reminder"], env=CLEAN_ENV)
    assert result.exit_code == 1 and "unknown state 'first_reminder'" in result.output, result.output
