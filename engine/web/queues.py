"""The team's two queues: cases waiting for an approval, and the open tasks (calls to make, e-mails
that could not go). Each row is one click plus a reason; the work is engine.cases.approvals and
engine.cases.tasks, with the signed-in user as ``by``, so the timeline says who approved or called.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.cases import approvals, tasks
from engine.cases.tasks import OUTCOME_LABELS
from engine.cases.lookup import ref_of
from engine.core.case import CALL_OUTCOMES
from engine.core.money import MoneyError, parse_date
from engine.errors import CaseError, RelanceError
from engine.cases.listing import ListingError
from engine.web.cases import RequestDesk, action_day, field, flag, refusal, seen_field, state_labels
from engine.web import urls  # noqa: F401  (registers {name:id}, used by ROUTES)
from engine.web.render import flash, page
from engine.web.security import checked_form, require

SHOWN = 100  # rows per queue page at most: a queue is worked from the top, and each row reads its ledger


def approvals_page(request: Request) -> Response:
    desk, today = request.app.state.desk, request.app.state.today()
    with desk.session() as session:
        waiting = approvals.waiting_approvals(session, today, limit=SHOWN)
    return page(request, "approvals.html", waiting=waiting, labels=state_labels(desk), today=today, shown=SHOWN)


async def approve(request: Request) -> Response:
    """Approve the step a case waits for (a note optional)."""
    return await _verdict(request, "approve")


async def reject(request: Request) -> Response:
    """Refuse the step a case waits for (a reason required): the case is held."""
    return await _verdict(request, "reject")


async def _verdict(request: Request, verdict: str) -> Response:
    case_id = request.path_params["case_id"]
    form = await checked_form(request)
    user = require(request, "legal")
    desk = RequestDesk(request.app.state.desk)
    try:
        text = await run_in_threadpool(_decide, desk, case_id, verdict, form, user.name, request.app.state.today())
        flash(request, text + desk.rates_note())
    except (RelanceError, MoneyError) as exc:
        said = "Validation non enregistrée" if verdict == "approve" else "Refus non enregistré"
        flash(request, f"{said} : {refusal(exc)}", "error")
    return RedirectResponse("/approvals", status_code=303)


def tasks_page(request: Request) -> Response:
    """Open tasks due today or before; ``?toutes=1`` shows the later ones too."""
    desk, today = request.app.state.desk, request.app.state.today()
    try:
        every = flag(request.query_params.get("toutes"), "Toutes les tâches")
    except ListingError as exc:
        raise HTTPException(400, refusal(exc)) from None
    labels = state_labels(desk)
    with desk.session() as session:
        lines = tasks.list_tasks(session, today, due=None if every else today, limit=SHOWN, labels=labels.label)
    return page(request, "tasks.html", tasks=lines, today=today, every=every,
                outcomes=[(name, OUTCOME_LABELS[name]) for name in CALL_OUTCOMES], shown=SHOWN)


async def call_action(request: Request) -> Response:
    """A call made on a case's task, with its outcome (a promise needs its date)."""
    case_id = request.path_params["case_id"]
    form = await checked_form(request)
    user = require(request, "collector")
    try:
        # The timeline as the list showed it: a second click, or a colleague's call meanwhile, records nothing.
        desk = RequestDesk(request.app.state.desk, case_id=case_id, seen=seen_field(form))
        text = await run_in_threadpool(_call, desk, case_id, form, user.name, request.app.state.today())
        flash(request, text + desk.rates_note())
    except (RelanceError, MoneyError) as exc:
        flash(request, f"Appel non enregistré : {refusal(exc)}", "error")
    return RedirectResponse("/tasks", status_code=303)


def _decide(desk: Any, case_id: int, verdict: str, form: FormData, by: str, today: date) -> str:
    with desk.session() as session:
        ref = ref_of(session, case_id)
    on = action_day(form, today)
    reason = field(form, "reason") or None
    if verdict == "reject":
        if not reason:
            raise CaseError("un refus a un motif")
        approvals.reject(desk, ref, on, by=by, reason=reason)
        return f"{ref} : étape refusée, dossier suspendu ({reason})"
    done = approvals.approve(desk, ref, on, by=by, note=reason)
    label = state_labels(desk).get(done.state, done.state)
    return f"{ref} : étape validée le {on:%d/%m/%Y} ; état : {label}"


def _call(desk: Any, case_id: int, form: FormData, by: str, today: date) -> str:
    with desk.session() as session:
        ref = ref_of(session, case_id)
    outcome = field(form, "outcome")
    on = action_day(form, today)
    until = parse_date(field(form, "until")) if field(form, "until") and outcome == "promise" else None
    done = tasks.record_call(desk, ref, outcome, on, by=by, note=field(form, "reason") or None, until=until)
    label = state_labels(desk).get(done.state, done.state)
    return f"{ref} : appel enregistré ({OUTCOME_LABELS.get(outcome, outcome)}) ; état : {label}"


ROUTES = [
    Route("/approvals", approvals_page),
    Route("/approvals/{case_id:id}/approve", approve, methods=["POST"]),
    Route("/approvals/{case_id:id}/reject", reject, methods=["POST"]),
    Route("/tasks", tasks_page),
    Route("/tasks/{case_id:id}/call", call_action, methods=["POST"]),
]

__all__ = ["ROUTES"]
