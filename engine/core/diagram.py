"""A workflow drawn as a Mermaid state diagram, with transitions' own mermaid graph engine (no Graphviz)."""

from __future__ import annotations

from transitions.extensions.diagrams import GraphMachine

from engine.core.workflow import TransitionSpec, Workflow


def mermaid(workflow: Workflow) -> str:
    """Mermaid `stateDiagram-v2` text: states with their labels, each transition with delay and guards."""
    machine = GraphMachine(
        model=_Drawing(),
        states=[{"name": s.name, "final": s.final} for s in workflow.states.values()],
        initial=workflow.initial,
        transitions=[
            {"trigger": spec.trigger, "source": list(spec.sources), "dest": spec.dest,
             "conditions": _labels(spec)}
            for spec in workflow.transitions if spec.sources
        ],
        graph_engine="mermaid",
        auto_transitions=False,
        show_conditions=True,
        show_state_attributes=False,
        title=f"{workflow.name} v{workflow.version}",
    )
    source: str = machine.models[0].get_graph().source  # type: ignore[attr-defined]
    lines = source.rstrip("\n").splitlines()
    for state in workflow.states.values():
        if state.label:
            # The French label as the state's display name; the id stays the state name.
            lines = [f'  state "{_clean(state.label)} ({state.name})" as {state.name}'
                     if line.strip() == f'state "{state.name}" as {state.name}' else line for line in lines]
        if state.final:
            lines.append(f"  {state.name} --> [*]")
    return "\n".join(lines) + "\n"


class _Drawing:
    """A stand-in model: GraphMachine draws the graph of a model, and needs one."""


def _labels(spec: TransitionSpec) -> list[str]:
    """Condition texts shown on the edge: the delay first, then the guards (never evaluated here)."""
    labels = []
    if spec.after is not None:
        since = " since due date" if spec.since == "due_date" else ""
        labels.append(f"after {spec.after}{since}")
    if spec.when is not None:
        labels.append(_clean(spec.when.source))
    if spec.unless is not None:
        labels.append(f"not ({_clean(spec.unless.source)})")
    return labels


def _clean(text: str) -> str:
    """Mermaid labels break on double quotes, colons and semicolons: soften them."""
    return text.replace('"', "'").replace(":", " ").replace(";", ",")
