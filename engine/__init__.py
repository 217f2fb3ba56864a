"""relance: an escalation engine for unpaid invoices."""

from engine.core.case import Action, CaseState, Step
from engine.core.machine import EscalationError, Escalator
from engine.core.workflow import (
    Problem,
    Workflow,
    WorkflowError,
    check_workflow,
    load_workflow,
)

__all__ = [
    "Action", "CaseState", "Escalator", "EscalationError", "Problem", "Step", "Workflow", "WorkflowError",
    "check_workflow", "load_workflow",
]
__version__ = "0.1.0"
