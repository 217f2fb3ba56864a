"""The workflow diagram drawn on the server: every state and timed transition is there, a transition from
every state is written once, and text from the workflow file is escaped."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from engine.core.workflow import load_workflow
from engine.web.diagram import workflow_svg
from tests.support import SHIPPED_WORKFLOWS


def test_every_state_and_timed_transition_of_the_shipped_policy_is_drawn() -> None:
    workflow = load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")
    svg = workflow_svg(workflow)
    tree = ElementTree.fromstring(svg)  # well-formed XML
    titles = [t.text for t in tree.iter("{http://www.w3.org/2000/svg}title")]
    assert {state for state in workflow.states} <= set(titles)
    timed = [t for t in workflow.transitions if t.timed]
    assert len([t for t in titles if t and " : relance " in t]) == sum(len(t.sources) for t in timed)
    assert "paiement depuis tout état si balance &lt;= 0" in svg  # `source: "*"`, once, not a fan of arrows
    assert svg.count("→ paid") == 0
    assert "Mise en demeure" in svg and "10 jours" in svg


def test_text_from_the_workflow_is_escaped(tmp_path: Path) -> None:
    source = (SHIPPED_WORKFLOWS / "fr-b2b.yaml").read_text(encoding="utf-8")
    source = source.replace('label: "Facture échue"', 'label: "<b onload=x>échue</b>"')
    path = tmp_path / "wf.yaml"
    path.write_text(source.replace("letters: ../letters/fr", f"letters: {SHIPPED_WORKFLOWS.parent / 'letters/fr'}"),
                    encoding="utf-8")
    svg = workflow_svg(load_workflow(path))
    assert "<b onload" not in svg and "&lt;b onload=x&gt;" in svg
    ElementTree.fromstring(svg)
