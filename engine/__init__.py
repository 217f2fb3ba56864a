"""relance: an escalation engine for unpaid invoices."""

from engine.case import Action, CaseState, Step
from engine.machine import Engine, EngineError
from engine.workflow import Problem, Workflow, WorkflowError, check_workflow, load_workflow

__all__ = [
    "Action", "CaseState", "Engine", "EngineError", "Problem", "Step", "Workflow", "WorkflowError",
    "check_workflow", "load_workflow",
]
__version__ = "0.1.0"
