"""How the timeline says why a step happened, in French: the trigger, the delay and guards it met, the facts.

Used by engine.store.events (StateChange.describe): a step's stored facts hold the rule it fired under
(``rule``: delay, start, guards, as the workflow wrote them) and the facts its guards read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from engine.core.money import format_amount, format_date

# What made a step happen, as the timeline says it.
TRIGGER_LABELS = {
    "escalate": "délai écoulé", "payment": "paiement", "dispute": "contestation", "resolve": "fin de contestation",
    "promise": "promesse de paiement", "promise_lapsed": "promesse non tenue", "hold": "suspension",
    "resume": "reprise", "jump": "décision manuelle",
}
# How a step's reason reads: the delay as written, where it counted from, the guards and the facts they read.
_UNITS = {"day": ("jour", "jours"), "business_day": ("jour ouvré", "jours ouvrés"),
          "week": ("semaine", "semaines"), "month": ("mois", "mois")}
_SINCE = {"due_date": "depuis l'échéance", "state_entered": "depuis l'étape précédente",
          "notice_received": "depuis la réception de la mise en demeure"}
# A delay written `since: notice_received`, by what it counted from (facts["counted_from"]): the entry into the
# step (the letter's date) while no receipt was recorded. A step recorded before that was kept says only what
# both share.
_SINCE_NOTICE = {"notice_received": _SINCE["notice_received"],
                 "state_entered": "depuis l'étape précédente (aucune réception de la mise en demeure enregistrée)",
                 "entered_after_receipt": "depuis le retour à l'étape, après la réception de la mise en demeure,",
                 None: "depuis la mise en demeure ou sa réception"}
_FACTS = {"balance": "solde", "noticed_balance": "solde mis en demeure", "principal": "principal",
          "currency": "devise", "paid": "réglé", "days_overdue": "jours de retard", "days_in_state": "jours dans l'étape",
          "days_to_prescription": "jours avant prescription", "invoice_count": "factures",
          "letters_sent": "courriers envoyés", "amount": "montant", "until": "jusqu'au"}


def step_reason(trigger: str, facts: Mapping[str, Any], currency: str = "EUR") -> str:
    """Why a step happened, in French: its trigger, the delay and guards it met, the facts they read."""
    rule = facts.get("rule") if isinstance(facts.get("rule"), Mapping) else None
    parts = [TRIGGER_LABELS.get(trigger, trigger)]
    if rule is not None:  # a timed step, whatever the workflow named its trigger
        delay = _french_delay(str(rule.get("after", "")))
        parts[0] = "sans délai"  # written without `after`: it fired once its guards held, no delay ran out
        if delay:
            due = facts.get("due_on")
            since = str(rule.get("since"))
            start = _SINCE_NOTICE.get(facts.get("counted_from"), "") if since == "notice_received" \
                else _SINCE.get(since, "")
            parts[0] = (f"délai de {delay} {start} écoulé"
                        + (f" le {format_date(_as_date(due))}" if due else "")).replace("  ", " ")
        if facts.get("deadline_on"):  # the step waited past its delay for the deadline the letter gave
            parts.append(f"délai de paiement donné par le courrier expiré le {format_date(_as_date(facts['deadline_on']))}")
        for key, word in (("when", "condition remplie"), ("unless", "exception écartée")):
            if rule.get(key):
                parts.append(f"{word} « {rule[key]} »")
    # A timed step's facts are those its guards read; an event's are the whole case: keep the telling ones.
    shown = _FACTS if rule is not None else ("balance", "amount", "until")
    values = [f"{_FACTS[name]} {_fact(name, value, currency)}" for name, value in facts.items()
              if name in shown and value is not None]
    return " ; ".join(parts) + (f" ({', '.join(values)})" if values else "")


def _french_delay(text: str) -> str:
    count, _, unit = text.partition(" ")
    if not count.isdigit():
        return ""
    key = unit.rstrip("s").replace(" ", "_")
    one, many = _UNITS.get(key, (unit, unit))
    return f"{count} {one if count == '1' else many}"


def _fact(name: str, value: Any, currency: str) -> str:
    if name in ("balance", "noticed_balance", "principal", "paid", "amount"):
        try:
            return format_amount(Decimal(str(value)), currency)
        except ArithmeticError:
            return str(value)
    if name == "until":
        return format_date(_as_date(value))
    return str(value)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


__all__ = ["TRIGGER_LABELS", "step_reason"]
