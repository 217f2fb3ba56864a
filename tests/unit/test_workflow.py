"""Workflow loading: every kind of mistake reported, located by line and key, all at once."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from engine.core.calendar import Delay
from engine.core.workflow import Problem, WorkflowError, check_workflow, load_workflow
from tests.support import TESTS

HERE = TESTS
REPO = HERE.parent
LETTERS = ("relance_1", "relance_2", "relance_3", "mise_en_demeure", "transmission_contentieux")

VALID = """\
name: t
version: 1
letters: letters
initial: due
states:
  due: {}
  reminder1:
    letter: relance.docx
  paid: {final: true}
transitions:
  - trigger: escalate
    source: due
    dest: reminder1
    after: 7 days
  - trigger: payment
    source: "*"
    dest: paid
    when: "balance <= 0"
"""


def write(tmp_path: Path, text: str) -> Path:
    """A workflow file in tmp_path beside a letters folder holding relance.docx."""
    (tmp_path / "letters").mkdir(exist_ok=True)
    (tmp_path / "letters" / "relance.docx").write_bytes(b"")
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(path: Path) -> list[Problem]:
    return [p for p in check_workflow(path) if p.severity == "error"]


def only_error(path: Path) -> Problem:
    found = errors(path)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_valid_file_loads_into_a_frozen_workflow(tmp_path: Path) -> None:
    wf = load_workflow(write(tmp_path, VALID))
    assert (wf.name, wf.version, wf.initial, wf.grouping, wf.calendar) == ("t", 1, "due", "debtor", "FR")
    assert wf.letters_dir == (tmp_path / "letters").resolve()
    assert wf.states["reminder1"].channels == ("letter",)
    assert wf.transitions[0].after == Delay(7, "day")
    assert wf.transitions[1].sources == ("due", "reminder1")  # "*": every state but the destination
    assert wf.transitions[1].when is not None and wf.transitions[1].when.source == "balance <= 0"
    with pytest.raises(AttributeError):
        wf.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        wf.states["x"] = wf.states["due"]  # type: ignore[index]


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    problem = only_error(write(tmp_path, VALID.replace("  due: {}", "  due: {\n  oops: [")))
    assert problem.message.startswith("YAML syntax error")
    assert problem.line is not None and problem.line >= 6


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    letter: relance.docx", "    leter: relance.docx"))
    problem = only_error(path)
    assert (problem.line, problem.key) == (8, "states.reminder1.leter")
    assert str(problem) == f"{path}:8: states.reminder1.leter: unknown key 'leter' (did you mean 'letter'?)"


def test_transition_naming_unknown_states(tmp_path: Path) -> None:
    text = VALID.replace("    dest: reminder1", "    dest: remindr1").replace("    source: due", "    source: [due, nowhere]")
    found = {(p.line, p.key): p.message for p in errors(write(tmp_path, text))}
    assert found[(12, "transitions[0].source")] == "unknown state 'nowhere'"
    assert found[(13, "transitions[0].dest")] == "unknown state 'remindr1' (did you mean 'reminder1'?)"


def test_missing_and_unknown_initial(tmp_path: Path) -> None:
    missing = only_error(write(tmp_path, VALID.replace("initial: due\n", "")))
    assert missing.key == "initial" and "missing required key 'initial'" in missing.message
    unknown = only_error(write(tmp_path, VALID.replace("initial: due", "initial: dew")))
    assert (unknown.line, unknown.key) == (4, "initial")
    assert "unknown initial state 'dew' (did you mean 'due'?)" in unknown.message


@pytest.mark.parametrize("initial", ["[due]", "{a: 1}", "7"])
def test_an_initial_state_that_is_not_a_name_is_a_located_error(tmp_path: Path, initial: str) -> None:
    """A list or a mapping there used to end validate in a TypeError traceback (unhashable)."""
    problem = only_error(write(tmp_path, VALID.replace("initial: due", f"initial: {initial}")))
    assert (problem.line, problem.key) == (4, "initial")
    assert problem.message.startswith("'initial' must be a string")


def test_duplicate_state_is_reported_not_silently_dropped(tmp_path: Path) -> None:
    text = VALID.replace("  paid: {final: true}", "  paid: {final: true}\n  reminder1: {}")
    problem = only_error(write(tmp_path, text))
    assert (problem.line, problem.key, problem.message) == (10, "states.reminder1", "duplicate key 'reminder1'")


def test_unreachable_state_and_no_path_to_an_end(tmp_path: Path) -> None:
    text = VALID.replace("  paid: {final: true}", "  paid: {final: true}\n  island: {final: true}")
    problem = only_error(write(tmp_path, text))
    assert (problem.line, problem.key) == (10, "states.island")
    assert "unreachable from the initial state 'due'" in problem.message
    no_end = VALID.split("  - trigger: payment")[0].replace("  paid: {final: true}\n", "")
    found = {(p.key, p.message) for p in errors(write(tmp_path, no_end))}
    assert ("initial", "no path from 'due' to a final state") in found


def test_state_without_a_way_out_is_a_warning(tmp_path: Path) -> None:
    problems = check_workflow(write(tmp_path, VALID))
    assert [(p.severity, p.line, p.key) for p in problems] == [("warning", 7, "states.reminder1")]
    assert "no timed transition leaves it" in problems[0].message
    assert str(problems[0]).endswith("states.reminder1: warning: " + problems[0].message)


@pytest.mark.parametrize("trigger", ["pay", "payed", "disputed", "promised"])
def test_a_timed_trigger_named_like_an_event_is_a_warning(tmp_path: Path, trigger: str) -> None:
    """`trigger: pay` is not the payment event but a timed step, due at once without `after`: the next run
    would have moved every case to `paid` before anyone paid. `relance validate` says so."""
    path = write(tmp_path, VALID.replace("trigger: payment", f"trigger: {trigger}"))
    [problem] = [p for p in check_workflow(path) if p.key == "transitions[1].trigger"]
    assert (problem.severity, problem.line) == ("warning", 15)
    assert f"{trigger!r} is a timed trigger" in problem.message and "did you mean" in problem.message
    assert errors(path) == []


@pytest.mark.parametrize(("state", "word"), [("paid: {final: true}", "final"), ("paid: {pause: true}", "a pause")])
def test_a_timed_transition_out_of_a_final_or_pause_state_is_a_warning(tmp_path: Path, state: str, word: str) -> None:
    """Nothing timed leaves a final or paused state (engine.core.machine): such a step validated clean and
    never fired, and the case waited there for ever."""
    text = (VALID.replace("paid: {final: true}", f"{state}\n  closed: {{final: true}}")
            + "  - {trigger: escalate, source: paid, dest: closed, after: 3 days}\n")
    path = write(tmp_path, text)
    [problem] = [p for p in check_workflow(path) if p.key == "transitions[2].source"]
    assert problem.severity == "warning" and f"state 'paid' is {word}: nothing timed leaves it" in problem.message


@pytest.mark.parametrize("version", ["99999999999999999999999999999999", "2147483648", "0", "-1"])
def test_version_is_a_positive_number_the_database_can_store(tmp_path: Path, version: str) -> None:
    """A 32-digit version passed validate, then every run crashed storing it (OverflowError)."""
    problem = only_error(write(tmp_path, VALID.replace("version: 1", f"version: {version}")))
    assert (problem.line, problem.key) == (2, "version")
    assert "between 1 and 2147483647" in problem.message
    assert load_workflow(write(tmp_path, VALID.replace("version: 1", "version: 2147483647"))).version == 2**31 - 1


@pytest.mark.parametrize("delay", ["7", "seven days", "3 business weeks", "7 dayz"])
def test_malformed_delay(tmp_path: Path, delay: str) -> None:
    problem = only_error(write(tmp_path, VALID.replace("after: 7 days", f"after: {delay}")))
    assert (problem.line, problem.key) == (14, "transitions[0].after")
    assert "delay" in problem.message


def test_guard_syntax_error_and_unknown_fact(tmp_path: Path) -> None:
    bad_syntax = only_error(write(tmp_path, VALID.replace('"balance <= 0"', '"balance <= "')))
    assert (bad_syntax.line, bad_syntax.key) == (18, "transitions[1].when")
    assert bad_syntax.message.startswith("syntax error in guard")
    unknown = only_error(write(tmp_path, VALID.replace('"balance <= 0"', '"balanse <= 0"')))
    assert (unknown.line, unknown.key) == (18, "transitions[1].when")
    assert unknown.message == "unknown fact 'balanse' (did you mean 'balance'?)"


def test_missing_letter_template_and_missing_letters_folder(tmp_path: Path) -> None:
    missing = only_error(write(tmp_path, VALID.replace("relance.docx", "relance_9.docx")))
    assert (missing.line, missing.key) == (8, "states.reminder1.letter")
    assert "'relance_9.docx' not found" in missing.message
    no_folder = only_error(write(tmp_path, VALID.replace("letters: letters", "letters: ../nowhere")))
    assert (no_folder.line, no_folder.key) == (3, "letters")


def test_extensions_are_validated(tmp_path: Path) -> None:
    text = VALID.replace("letters: letters", "letters: letters\ngrouping: invoice\ncalendar_subdivision: '57'")
    text = text.replace("    letter: relance.docx", "    letter: relance.docx\n    label: Première relance\n    kind: reminder")
    wf = load_workflow(write(tmp_path, text))
    assert (wf.grouping, wf.calendar_subdivision) == ("invoice", "57")
    assert (wf.states["reminder1"].label, wf.states["reminder1"].kind) == ("Première relance", "reminder")
    bad = text.replace("grouping: invoice", "grouping: client").replace("'57'", "'99'").replace("kind: reminder", "kind: remind")
    found = {p.key for p in errors(write(tmp_path, bad))}
    assert found == {"grouping", "calendar_subdivision", "states.reminder1.kind"}


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (VALID.replace("version: 1", "version: one").replace("leter", "x")
            .replace("    letter: relance.docx", "    leter: relance.docx")
            .replace("after: 7 days", "after: soon").replace('"balance <= 0"', '"__import__ > 0"'))
    keys = sorted(p.key or "" for p in errors(write(tmp_path, text)))
    assert keys == ["states.reminder1.leter", "transitions[0].after", "transitions[1].when", "version"]
    with pytest.raises(WorkflowError) as raised:
        load_workflow(write(tmp_path, text))
    assert len([p for p in raised.value.problems if p.severity == "error"]) == 4
    assert "transitions[0].after" in str(raised.value)


def test_unreadable_or_non_mapping_file(tmp_path: Path) -> None:
    assert "cannot read" in only_error(tmp_path / "absent.yaml").message
    assert "mapping" in only_error(write(tmp_path, "- a\n- b\n")).message


def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    path.write_bytes(VALID.replace("  reminder1:", "  relance_\xe9:").encode("latin-1"))
    problem = only_error(path)
    assert problem.line == 7 and "not UTF-8" in problem.message


@pytest.mark.parametrize("name", ["fr-b2b.yaml", "fr-b2c.yaml"])
def test_shipped_workflows_are_clean(tmp_path: Path, name: str) -> None:
    """The shipped policies load with no error and no warning (against a stand-in letters folder)."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "letters" / "fr").mkdir(parents=True)
    for letter in LETTERS:
        (tmp_path / "letters" / "fr" / f"{letter}.docx").write_bytes(b"")
    path = Path(shutil.copy(REPO / "workflows" / name, tmp_path / "workflows"))
    assert check_workflow(path) == []
    wf = load_workflow(path)
    assert wf.states["formal_notice"].channels == ("registered_letter",)
    assert 8 <= (wf.states["formal_notice"].pay_within or 0) <= 15
    assert [wf.states[s].letter for s in ("reminder1", "reminder2", "reminder3", "formal_notice", "litigation")] == [
        f"{letter}.docx" for letter in LETTERS
    ]


def test_b2c_policy_never_contacts_twice_within_a_week(tmp_path: Path) -> None:
    """Every timed step of fr-b2c leaving a contact state waits at least 7 calendar days."""
    from datetime import date

    from engine.core.calendar import add_delay

    (tmp_path / "workflows").mkdir()
    (tmp_path / "letters" / "fr").mkdir(parents=True)
    for letter in LETTERS:
        (tmp_path / "letters" / "fr" / f"{letter}.docx").write_bytes(b"")
    wf = load_workflow(shutil.copy(REPO / "workflows" / "fr-b2c.yaml", tmp_path / "workflows"))
    for spec in wf.transitions:
        if spec.timed and any(wf.states[s].channels for s in spec.sources):
            # notice_received counts from the receipt, never before the state's entry (the letter): no sooner.
            assert spec.since in ("state_entered", "notice_received") and spec.after is not None
            assert (add_delay(date(2026, 5, 1), spec.after, "FR") - date(2026, 5, 1)).days >= 7, spec


@pytest.mark.parametrize(("line", "reason"), [
    ("locale: xx_YY", "unknown locale 'xx_YY'"),
    ('locale: "../../etc"', "unknown locale '../../etc'"),
    ("locale: fr-FR", "unknown locale 'fr-FR'"),
    ("locale: en_US", "locale 'en_US' is not French"),  # the letters are French: dates must read so too
    ("locale: [fr_FR]", "'locale' must be a string"),
    ("currency: EURO", "a three-letter currency code (EUR), got 'EURO'"),
    ("currency: XXXX", "a three-letter currency code (EUR), got 'XXXX'"),
    ("currency: XXX", "unknown currency 'XXX': not an ISO 4217 currency anyone pays in"),
    ("currency: eur", "unknown currency 'eur': write an ISO 4217 code (did you mean 'EUR'?)"),
    ("currency: 978", "'currency' must be a string"),
])
def test_locale_and_currency_are_checked_when_the_file_is_read(tmp_path: Path, line: str, reason: str) -> None:
    """Unchecked, each of them passed validation and then failed every case of the run."""
    problem = only_error(write(tmp_path, VALID.replace("letters: letters", f"letters: letters\n{line}")))
    assert (problem.line, problem.key) == (4, line.split(":")[0])
    assert reason in problem.message


def test_a_known_french_locale_and_an_iso_currency_load(tmp_path: Path) -> None:
    text = VALID.replace("letters: letters", "letters: letters\nlocale: fr_BE\ncurrency: XOF")
    wf = load_workflow(write(tmp_path, text))
    assert (wf.locale, wf.currency) == ("fr_BE", "XOF")
    assert (load_workflow(write(tmp_path, VALID)).locale, load_workflow(write(tmp_path, VALID)).currency) == ("fr_FR", "EUR")


@pytest.mark.parametrize(("pay_within", "reason"), [
    ("-5", "pay_within must be 'N days', 'N weeks' or a number of days from 0 to 9999, not -5"),
    ("99999", "pay_within must be 'N days', 'N weeks' or a number of days from 0 to 9999, not 99999"),
    ("five days", "malformed delay 'five days': write 'N days' or 'N weeks'"),
    ("99999 days", "at most 9999"),
])
def test_pay_within_suggests_only_the_forms_it_accepts(tmp_path: Path, pay_within: str, reason: str) -> None:
    """It suggested business days and months, which it then refused; a huge integer of days passed."""
    text = VALID.replace("    letter: relance.docx", f"    letter: relance.docx\n    pay_within: {pay_within}")
    problem = only_error(write(tmp_path, text))
    assert (problem.line, problem.key) == (9, "states.reminder1.pay_within")
    assert reason in problem.message


def test_a_date_where_a_string_belongs_is_shown_as_written(tmp_path: Path) -> None:
    problem = only_error(write(tmp_path, VALID.replace("name: t", "name: 2020-01-01")))
    assert problem.key == "name" and "datetime" not in problem.message
    assert problem.message == "'name' must be a string, not the date 2020-01-01 (quote it: '2020-01-01')"


def test_validate_says_warning_once_per_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from engine.cli.main import cli

    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, VALID.replace("    letter: relance.docx", "    label: Relance"))  # no letter to check
    result = CliRunner().invoke(cli, ["validate", str(path)],
                                env={"RELANCE_WORKSPACE": None, "RELANCE_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "states.reminder1" in line]
    assert line.startswith(f"warning: {path}:7: states.reminder1: state 'reminder1' is not final")
    assert line.replace(str(path), "").count("warning") == 1  # the tmp folder is named after this test


def test_the_next_state_a_letter_may_announce(tmp_path: Path) -> None:
    """The shipped B2B policy: the third reminder leads to the formal notice; the notice's guards choose
    between litigation and a write-off, so it announces neither. A policy going from its last reminder
    straight to court announces the hand-off."""
    from tests.support import SHIPPED_WORKFLOWS, TEST_WORKFLOWS

    shipped = load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")
    following = shipped.next_state("reminder3")
    assert following is not None and following.kind == "formal_notice"
    assert shipped.next_state("formal_notice") is None
    assert shipped.next_state("paid") is None
    policy = tmp_path / "straight.yaml"
    policy.write_text(textwrap.dedent(f"""\
        name: straight
        version: 1
        letters: {TEST_WORKFLOWS / "letters"}
        initial: due
        states:
          due: {{}}
          reminder: {{letter: relance.docx, pay_within: 8}}
          court: {{kind: litigation, final: true}}
          paid: {{final: true}}
        transitions:
          - {{trigger: escalate, source: due, dest: reminder, after: 5 days}}
          - {{trigger: escalate, source: reminder, dest: court, after: 15 days}}
        """), encoding="utf-8")
    straight = load_workflow(policy).next_state("reminder")
    assert straight is not None and (straight.name, straight.kind) == ("court", "litigation")


def test_a_letter_announces_no_legal_step_when_only_time_barred_debts_are_owed() -> None:
    """The run never puts time-barred invoices on notice: a reminder on them alone must not announce one."""
    from types import SimpleNamespace

    from engine.cases.letters import _next_step
    from tests.support import SHIPPED_WORKFLOWS

    shipped = load_workflow(SHIPPED_WORKFLOWS / "fr-b2c.yaml")
    barred = SimpleNamespace(open=650, barred=True)
    owed = SimpleNamespace(open=90, barred=False)
    assert _next_step(shipped, "reminder3", [barred]) is None  # type: ignore[list-item]
    assert _next_step(shipped, "reminder3", [barred, owed]) == ("formal_notice", "Mise en demeure")  # type: ignore[list-item]
