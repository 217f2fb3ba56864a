"""Hostile workflow files: every bound of engine.core.limits is a located error, found without
evaluating anything. Payloads are small: a lowered limit proves a cap, and the real attacks (a
billion laughs, 100 parentheses) are refused before they cost anything."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from jinja2.sandbox import SecurityError

from engine.core import guards
from engine.core.case import CaseState
from engine.core.guards import GuardError, check_guard, compile_guard
from engine.core.limits import DEFAULT_LIMITS, Limits, LimitsError, limits_from_table
from engine.core.machine import Escalator
from engine.core.workflow import (
    Problem,
    TemplatePathError,
    WorkflowError,
    check_workflow,
    load_workflow,
    template_path,
)
from engine.core.yamlsource import YamlLimitError, iter_duplicates, load_located
from engine.workspace import WorkspaceError, load_workspace

WORKFLOW = """\
name: t
version: 1
letters: letters
initial: due
states:
  due: {{}}
  reminder:
    letter: relance.docx
  paid: {{final: true}}
transitions:
  - trigger: escalate
    source: due
    dest: reminder
    after: 7 days
    when: "{guard}"
  - trigger: payment
    source: "*"
    dest: paid
"""
GUARD_LINE = 15  # the `when:` line of WORKFLOW


def laughs(levels: int) -> str:
    """The classic alias bomb: each level is a list of nine aliases to the level below."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for level in range(1, levels):
        lines.append(f"{names[level]}: &{names[level]} [" + ",".join([f"*{names[level - 1]}"] * 9) + "]")
    lines.append(f"name: *{names[levels - 1]}")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    (tmp_path / "letters").mkdir(exist_ok=True)
    (tmp_path / "letters" / "relance.docx").write_bytes(b"")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def workflow_with_guard(tmp_path: Path, guard: str) -> Path:
    return write(tmp_path, WORKFLOW.format(guard=guard.replace('"', '\\"')))


def only_error(path: Path, limits: Limits | None = None) -> Problem:
    found = [p for p in check_workflow(path, limits=limits) if p.severity == "error"]
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --- YAML ---


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_limit(tmp_path: Path) -> None:
    """Nine levels (9**9 values once expanded) in 370 bytes: refused while composing, at its line."""
    path = write(tmp_path, laughs(9))
    assert path.stat().st_size < 400
    problem = only_error(path)
    assert problem.line == 5  # the first level whose aliases expand past 20,000 values
    assert "alias" in problem.message and "relance.toml limits: yaml_nodes = 20000" in problem.message


def test_alias_expansion_is_counted_not_the_aliases(tmp_path: Path) -> None:
    """Four levels expand to 9**4 = 6,561 values: fine by default, refused under a limit of 1,000."""
    path = write(tmp_path, laughs(4))
    assert not any("values" in p.message for p in check_workflow(path))
    problem = only_error(path, Limits(yaml_nodes=1_000))
    assert problem.line == 4 and "relance.toml limits: yaml_nodes = 1000" in problem.message


def test_a_mapping_shared_by_aliases_reports_its_duplicate_key_once() -> None:
    root = load_located("base: &b {x: 1, x: 2}\none: *b\ntwo: *b\nthree: *b\n")
    assert iter_duplicates(root) == [("base", "x", 1)]


def test_deep_nesting_is_a_located_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: " + "[" * 2_000 + "]" * 2_000 + "\n")
    problem = only_error(path)
    assert problem.line == 1 and "nest more than 50 deep" in problem.message


def test_file_size_is_checked_before_reading(tmp_path: Path) -> None:
    path = workflow_with_guard(tmp_path, "balance > 0")
    problem = only_error(path, Limits(yaml_bytes=100))
    assert problem.line is None and "relance.toml limits: yaml_bytes = 100" in problem.message
    with pytest.raises(YamlLimitError):  # a kept version's text is bounded too
        load_located(path.read_text(), Limits(yaml_bytes=100))
    path.write_bytes(b"\xff" * 200)  # not even text: refused by its size, before it is read
    assert "the file is 200 bytes" in only_error(path, Limits(yaml_bytes=100)).message


def _check_in_a_child(path: Path) -> subprocess.CompletedProcess[str]:
    """check_workflow(path) in a process that may use 1 GB and 60 s: the old reader read /dev/zero until
    memory ran out and waited on a FIFO for ever, which must fail this test, not the machine."""
    code = ("import sys; from engine.core.workflow import check_workflow; "
            "print('\\n'.join(str(p) for p in check_workflow(sys.argv[1])))")
    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                          preexec_fn=bounded, cwd=Path(__file__).parents[2])


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_only_a_regular_file_is_read(tmp_path: Path, kind: str) -> None:
    """A FIFO (validate hung), a link to /dev/zero (it read until MemoryError) or a folder: refused
    from what the system says the file is, before reading a byte."""
    path = tmp_path / "wf.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        os.symlink("/dev/zero", path)
    else:
        path.mkdir()
    try:
        done = _check_in_a_child(path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"check_workflow on a {kind} did not return")
    assert done.returncode == 0, done.stderr[-2_000:]
    assert done.stdout.strip().startswith(f"{path}: not a regular file"), done.stdout


def test_a_file_read_is_bounded_even_when_its_size_says_nothing(tmp_path: Path) -> None:
    """/proc files say they hold 0 bytes: the reader stops at the limit rather than trust the size."""
    problem = only_error(Path("/proc/self/maps"), Limits(yaml_bytes=100))
    assert problem.line is None and "relance.toml limits: yaml_bytes = 100" in problem.message


def test_ten_thousand_states_are_refused_before_any_machine_is_built(tmp_path: Path) -> None:
    states = "".join(f"  s{i}: {{}}\n" for i in range(10_000))
    moves = "".join(f"  - {{trigger: go, source: s{i}, dest: s{i + 1}}}\n" for i in range(9_999))
    text = f"name: big\nversion: 1\ninitial: s0\nstates:\n{states}  end: {{final: true}}\ntransitions:\n{moves}"
    path = write(tmp_path, text)
    problem = only_error(path)
    assert "relance.toml limits: yaml_bytes = 250000" in problem.message  # refused by the file's size, not after 32 s of checks
    with pytest.raises(WorkflowError):
        load_workflow(path, source=text)


@pytest.mark.parametrize(("key", "limit"), [("states", Limits(states=2)), ("transitions", Limits(transitions=1))])
def test_state_and_transition_counts_are_bounded(tmp_path: Path, key: str, limit: Limits) -> None:
    path = workflow_with_guard(tmp_path, "balance > 0")
    problem = only_error(path, limit)
    assert problem.key == key and problem.line == (5 if key == "states" else 10)
    assert f"relance.toml limits: {key} = " in problem.message


# --- guards ---


def test_a_billion_character_string_is_refused_without_being_built(tmp_path: Path) -> None:
    path = workflow_with_guard(tmp_path, "('a' * 1000000000) | length > 0")
    problem = only_error(path)
    assert problem.line == GUARD_LINE and problem.key == "transitions[0].when"
    assert "repeating a string" in problem.message


def test_the_guard_sandbox_neither_folds_nor_runs_repetition() -> None:
    """Second wall: `*` is intercepted, so compiling does not compute it and running refuses it."""
    constant = guards._ENV.compile_expression("'ab' * 3")  # would be folded to 'ababab' otherwise
    with pytest.raises(SecurityError):
        constant()
    with pytest.raises(SecurityError):
        guards._ENV.compile_expression("x * 3")(x="ab")
    assert guards._ENV.compile_expression("x * 3")(x=Decimal("1.5")) == Decimal("4.5")


def test_a_hundred_parentheses_are_a_located_error(tmp_path: Path) -> None:
    path = workflow_with_guard(tmp_path, "(" * 100 + "balance" + ")" * 100 + " > 0")
    problem = only_error(path)
    assert problem.line == GUARD_LINE and "nests parentheses more than 20 deep" in problem.message


@pytest.mark.parametrize("guard", ["-" * 300 + "balance > 0", "not " * 100 + "disputed",
                                   " and ".join(["balance > 0"] * 30)])
def test_deep_expressions_are_refused_on_the_parsed_tree(guard: str) -> None:
    problems = check_guard(guard)
    assert len(problems) == 1 and "operations deep" in problems[0], problems


def test_guard_length_is_bounded() -> None:
    assert check_guard("balance > 0 and " * 40 + "disputed") == [
        "the guard is 648 characters long, more than a condition needs (relance.toml limits: guard_chars = 500)"]
    assert check_guard("balance > 0", Limits(guard_chars=5)) != []


@pytest.mark.parametrize(
    ("guard", "reason"),
    [
        ("balance > 'abc'", "'>' cannot compare an amount with a string"),
        ("days_overdue >= today", "'>=' cannot compare a whole number with a date"),
        ("balance == 'x'", "'==' compares an amount with a string"),
        ("balance * 1.5 > 3", "cannot mix an amount with a decimal literal"),
        ("balance / 0 > 1", "'/ 0' divides by zero"),
        ("days_overdue | length > 1", "'length' cannot measure a whole number"),
        ("3 in debtor.kind", "'in' cannot look for a whole number in a string"),
        ("(debtor.kind if disputed else 1) * 2 == 'x'", "repeating a string or a list"),
        ("'%s' % balance == 'x'", "'%' formatting of a string"),
        ("-debtor.country == 'FR'", "a sign cannot apply to a string"),
        ("today + 3 > today", "'+' cannot apply to a date and a whole number"),
    ],
)
def test_guards_are_type_checked_against_the_facts(guard: str, reason: str) -> None:
    problems = check_guard(guard)
    assert any(reason in p for p in problems), problems


@pytest.mark.parametrize("guard", ["balance > 1500", "balance >= 1500.50 and principal - paid == balance",
                                   "promise_until is none or promise_until < today", "balance % 100 == 0",
                                   "invoice_count / 2 > 1", "debtor.kind|upper == 'B2B'", "'b2' in debtor.kind",
                                   "days_overdue in [30, 60]", "balance|round > 0", "balance * 3 / 2 > 10"])
def test_sound_guards_pass_the_type_check(guard: str) -> None:
    assert check_guard(guard) == []


def test_a_guard_failing_at_run_time_names_file_line_key_and_guard(tmp_path: Path) -> None:
    path = workflow_with_guard(tmp_path, "balance / paid > 1")  # passes validation: paid may be non-zero
    workflow = load_workflow(path)
    case = CaseState("due", date(2026, 1, 1), date(2026, 1, 1), Decimal("100"))
    with pytest.raises(GuardError) as caught:
        Escalator(workflow).advance(case, date(2026, 3, 1))
    error = caught.value
    assert error.where == f"{path}:{GUARD_LINE}: transitions[0].when"
    assert error.guard == "balance / paid > 1"
    assert str(error).startswith(f"{path}:{GUARD_LINE}: transitions[0].when: guard 'balance / paid > 1' failed")


def test_a_refused_guard_is_a_guard_error_naming_where() -> None:
    with pytest.raises(GuardError) as caught:
        compile_guard("balance > 'x'", where="wf.yaml:9: transitions[1].when")
    assert str(caught.value).startswith("wf.yaml:9: transitions[1].when: '>' cannot compare")


# --- letter paths ---


@pytest.mark.parametrize("letter", ["/etc/passwd", "../wf.yaml", "sub/../../x.docx"])
def test_letter_paths_outside_the_folder_are_refused(tmp_path: Path, letter: str) -> None:
    path = write(tmp_path, WORKFLOW.format(guard="balance > 0").replace("relance.docx", letter))
    problem = only_error(path)
    assert problem.key == "states.reminder.letter" and problem.line == 8
    assert "inside the letters folder" in problem.message


@pytest.mark.parametrize(("letter", "reason"), [
    ('"rel\\0ance.docx"', "NUL character"),
    ("a" * 5_000 + ".docx", "cannot be looked up: File name too long"),
])
def test_a_letter_name_no_file_can_have_is_a_located_error(tmp_path: Path, letter: str, reason: str) -> None:
    """A NUL or an over-long name used to end validate in a ValueError/OSError traceback."""
    path = write(tmp_path, WORKFLOW.format(guard="balance > 0").replace("relance.docx", letter))
    problem = only_error(path)
    assert (problem.line, problem.key) == (8, "states.reminder.letter") and reason in problem.message
    if "NUL" in reason:  # the run resolves letters through the same function
        with pytest.raises(TemplatePathError, match="NUL"):
            template_path(tmp_path / "letters", "rel\0ance.docx")


@pytest.mark.parametrize(("folder", "reason"), [
    ('"a\\0b"', "NUL character"),
    ("b" * 5_000, "cannot be looked up: File name too long"),
])
def test_a_letters_folder_no_folder_can_have_is_a_located_error(tmp_path: Path, folder: str, reason: str) -> None:
    path = write(tmp_path, WORKFLOW.format(guard="balance > 0").replace("letters: letters", f"letters: {folder}"))
    problem = only_error(path)
    assert (problem.line, problem.key) == (3, "letters") and reason in problem.message


def test_a_symlink_leading_out_of_the_letters_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.docx"
    secret.write_bytes(b"")
    path = write(tmp_path, WORKFLOW.format(guard="balance > 0"))
    os.symlink(secret, tmp_path / "letters" / "link.docx")
    path.write_text(path.read_text().replace("relance.docx", "link.docx"))
    problem = only_error(path)
    assert problem.line == 8 and "leads outside the letters folder" in problem.message
    with pytest.raises(TemplatePathError):  # what the letter writer calls at run time
        template_path(tmp_path / "letters", "link.docx")
    assert template_path(tmp_path / "letters", "relance.docx") == (tmp_path / "letters" / "relance.docx").resolve()


# --- the limits themselves ---


def test_limits_come_from_a_limits_table() -> None:
    assert limits_from_table(None, "relance.toml") is DEFAULT_LIMITS
    assert limits_from_table({"states": 50, "template_seconds": 2}, "relance.toml") == Limits(
        states=50, template_seconds=2.0)
    with pytest.raises(LimitsError, match=r"relance.toml: \[limits\] unknown key 'state' \(did you mean 'states'\?\)"):
        limits_from_table({"state": 50}, "relance.toml")
    for bad in (0, -1, True, "10", 1.5):
        with pytest.raises(LimitsError, match="must be a positive integer"):
            limits_from_table({"states": bad}, "relance.toml")


def test_a_workspace_passes_its_limits_down(tmp_path: Path) -> None:
    config = textwrap.dedent("""\
        [workflows]
        b2b = "wf.yaml"
        [creditor]
        name = "ACME"
        postal_code = "75001"
        city = "Paris"
        [limits]
        guard_chars = 8
        """)
    (tmp_path / "relance.toml").write_text(config)
    workspace = load_workspace(tmp_path)
    assert workspace.limits == Limits(guard_chars=8)
    path = workflow_with_guard(tmp_path, "balance > 0")
    assert "relance.toml limits: guard_chars = 8" in only_error(path, workspace.limits).message
    (tmp_path / "relance.toml").write_text(config.replace("guard_chars = 8", "guard_chars = 0"))
    with pytest.raises(WorkspaceError, match=r"\[limits\] guard_chars must be a positive integer"):
        load_workspace(tmp_path)


# --- through the command line ---


def test_validate_refuses_a_billion_laughs_in_one_located_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli.main import cli

    monkeypatch.chdir(tmp_path)  # no workspace around: the default limits
    path = write(tmp_path, laughs(9), "laughs.yaml")
    result = CliRunner().invoke(cli, ["validate", str(path)],
                                env={"RELANCE_WORKSPACE": None, "RELANCE_DATABASE_URL": None})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}:5: aliases expand the file to more than 20,000 values; an alias bomb? "
                      "(relance.toml limits: yaml_nodes = 20000)"]
