"""relance: an escalation engine for unpaid invoices."""

from engine.case import Action, CaseState, Step

__all__ = ["Action", "CaseState", "Step"]
__version__ = "0.1.0"
