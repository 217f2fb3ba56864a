"""relance: an escalation engine for unpaid invoices.

The names below are re-exported lazily (PEP 562): ``import engine`` (which every ``engine.x`` import
runs first) costs nothing, so `relance --version` does not pay for the workflow engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.core.case import Action, CaseState, Step
    from engine.core.machine import EscalationError, Escalator
    from engine.core.workflow import Problem, Workflow, WorkflowError, check_workflow, load_workflow

_EXPORTS = {
    "Action": "engine.core.case", "CaseState": "engine.core.case", "Step": "engine.core.case",
    "EscalationError": "engine.core.machine", "Escalator": "engine.core.machine",
    "Problem": "engine.core.workflow", "Workflow": "engine.core.workflow", "WorkflowError": "engine.core.workflow",
    "check_workflow": "engine.core.workflow", "load_workflow": "engine.core.workflow",
}

__all__ = [
    "Action", "CaseState", "Escalator", "EscalationError", "Problem", "Step", "Workflow", "WorkflowError",
    "check_workflow", "load_workflow",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value
