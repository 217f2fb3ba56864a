"""The Mermaid drawing of a workflow: states with their labels, edges with delays and guards."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.core.diagram import mermaid
from engine.core.workflow import load_workflow
from tests.support import TESTS

HERE = TESTS


def test_mermaid_diagram_shows_states_delays_and_guards() -> None:
    text = mermaid(load_workflow(HERE / "workflows" / "simple.yaml"))
    assert text.startswith("---\ntest-simple v3\n---\nstateDiagram-v2")
    assert 'state "Première relance (reminder1)" as reminder1' in text
    assert "due --> reminder1: escalate [after 7 days since due date & balance > 0]" in text
    assert "reminder1 --> reminder2: escalate [after 10 business days]" in text
    assert "litigation --> [*]" in text and "[*] --> due" in text


def test_labels_and_guards_are_softened_and_unless_is_negated(tmp_path: Path) -> None:
    """Double quotes, colons and semicolons break a Mermaid line: labels and guards lose them, the
    `unless` guard reads as `not (...)`, and a state with no label keeps its bare name."""
    (tmp_path / "letters").mkdir()
    (tmp_path / "letters" / "r.docx").write_bytes(b"")
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent("""\
        name: drawn
        version: 2
        letters: letters
        initial: due
        states:
          due: {}
          soft:
            label: 'Relance "douce": J+7; poli'
            letter: r.docx
          closed: {final: true}
        transitions:
          - trigger: escalate
            source: due
            dest: soft
            after: 3 days
            when: 'debtor.kind == "b2c"'
            unless: "disputed"
          - trigger: payment
            source: "*"
            dest: closed
        """), encoding="utf-8")
    text = mermaid(load_workflow(path))
    lines = text.splitlines()
    assert "  state \"Relance 'douce'  J+7, poli (soft)\" as soft" in lines
    assert '  state "due" as due' in lines  # no label: the name, untouched
    assert "  due --> soft: escalate [after 3 days & debtor.kind == 'b2c' & not (disputed)]" in lines
    assert "  due --> closed: payment" in lines  # no delay, no guard: no brackets
    assert "  closed --> [*]" in lines and "  soft --> [*]" not in lines
    assert text.startswith("---\ndrawn v2\n---\n") and text.endswith("\n")
