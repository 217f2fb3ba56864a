"""The case list, a case's page, its actions and its letters.

Cases are named by id in URLs (a reference may hold any character an invoice number holds); the
search box takes a reference or an invoice number, as the command line does. Every action is one
use case of engine.cases.actions with the signed-in user as ``by``, then a redirect (POST/redirect/GET).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.cases import actions
from engine.cases.documents import DocumentError, NoSuchDocument, letter_file, letter_pdf, letters_of
from engine.cases.listing import PAGE_SIZE, CaseFilter, ListingError, page_of_cases
from engine.cases.lookup import case_by_id, details_of, find_case, ref_of, require_case, timeline_length
from engine.cases.tasks import open_tasks_of
from engine.cases.workflows import StateNames, state_names
from engine.core.calendar import happened_by
from engine.core.money import MoneyError, format_amount, parse_amount, parse_date
from engine.errors import BusyError, CaseError, ConcurrentChange, RelanceError
from engine.reports.timeline import KIND_LABELS, ORDER_NOTE, render_timeline, timeline_entries
from engine.web import urls  # noqa: F401  (registers {name:id}, used by ROUTES)
from engine.web.render import flash, page, without_paths
from engine.web.security import checked_form, current_user, require

# What each action needs: the role and its French name (whether a reason must be given is the action's own
# rule: engine.cases.actions.reason_of).
ACTIONS = {
    "pay": ("collector", "Paiement"),
    "promise": ("collector", "Promesse de paiement"),
    "dispute": ("collector", "Contestation"),
    "resolve": ("collector", "Fin de contestation"),
    "hold": ("collector", "Suspension"),
    "resume": ("collector", "Reprise"),
    "note": ("collector", "Note"),
    "jump": ("legal", "Changement manuel d'étape"),
}
MAX_TEXT = 2000
# The forms' fields as their labels name them: what a refusal calls a field (never its HTML name).
FIELD_LABELS = {"amount": "montant", "dest": "état", "on": "date", "outcome": "issue de l'appel", "reason": "motif",
                "reference": "référence", "seen": "formulaire", "until": "date limite"}
MAX_PAGE = 200  # rows per page at most (?par=N)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def state_labels(desk: Any) -> StateNames:
    """The states of every version of the workspace's workflows with their French labels (a case may still be
    in a state its workflow's current version renamed or dropped). Read on the shared desk: a RequestDesk's
    unit of work checks the case's timeline is as the form saw it, which an action just changed."""
    return state_names(desk.shared if isinstance(desk, RequestDesk) else desk)


def case_list(request: Request) -> Response:
    desk, today = request.app.state.desk, request.app.state.today()
    params = request.query_params
    labels = state_labels(desk)
    try:
        wanted = CaseFilter(
            closed=flag(params.get("clos"), "Dossiers clos"),
            state=_state(params.get("etat"), labels),
            debtor=(params.get("debiteur") or "").strip() or None,
            min_balance=parse_amount(params["montant_min"]) if params.get("montant_min") else None,
            min_days_overdue=_whole(params.get("retard_min"), "Retard d'au moins"),
            sort=params.get("tri") or "id",
            descending=_descending(params.get("ordre")),
            needs=_needs_of(request) if flag(params.get("pour_moi"), "Pour moi") else (),
        )
        with desk.session() as session:
            found = page_of_cases(session, wanted, today, after=params.get("apres") or None,
                                  before=params.get("avant") or None,
                                  size=_page_size(params.get("par")))
    except (ListingError, MoneyError) as exc:
        raise HTTPException(400, refusal(exc)) from None
    kept = {key: value for key, value in params.items() if key not in ("apres", "avant") and value}
    return page(request, "cases.html", cases=found, wanted=wanted, params=kept, labels=labels, today=today)


def _needs_of(request: Request) -> tuple[str, ...]:
    """What the signed-in user is needed for: approvals if they may approve, tasks if they may call."""
    user = current_user(request)
    needs = (("approval",) if user.may("legal") else ()) + (("task",) if user.may("collector") else ())
    if not needs:
        raise ListingError("un lecteur n'a ni validation ni tâche : le filtre « pour moi » ne s'applique pas")
    return needs


def find(request: Request) -> Response:
    """A case by its reference or one of its invoice numbers, as the command line finds it."""
    text = (request.query_params.get("ref") or "").strip()
    with request.app.state.desk.session() as session:
        case = find_case(session, text) if text else None
        case_id = case.id if case is not None else None
    if case_id is None:
        flash(request, f"Aucun dossier « {text} » (référence du dossier ou numéro de facture).", "error")
        return RedirectResponse("/cases", status_code=303)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def case_page(request: Request) -> Response:
    desk, today = request.app.state.desk, request.app.state.today()
    with desk.session() as session:
        try:
            row = case_by_id(session, request.path_params["case_id"])
        except RelanceError as exc:
            raise HTTPException(404, refusal(exc)) from None
        details = details_of(session, row)
        events, status = timeline_entries(session, row, desk.zone)
        letters = letters_of(session, row.id)
        debtor = row.debtor
        awaiting, open_tasks = row.awaiting_approval, open_tasks_of(session, row.id)
        seen = row.event_count or 0
    # The states of the version the case runs on: what `jump` accepts for it, named as that version names them.
    try:
        workflow = desk.workflow_version(row.workflow_name, row.workflow_version)
    except RelanceError:  # a kept version the workspace cannot read (a letter it names is gone): no jump menu
        workflow = None
    states = list(workflow.states) if workflow is not None else []
    names = state_labels(desk)
    labels = {**names.offered, **names.by_version.get((row.workflow_name, row.workflow_version), {})}
    return page(request, "case.html", case=details, case_id=row.id, debtor=debtor, events=events, status=status,
                letters=letters, labels=labels, kinds=KIND_LABELS, states=states, today=today,
                actions=ACTIONS, awaiting=awaiting, open_tasks=open_tasks, seen=seen, order=ORDER_NOTE)


async def case_action(request: Request) -> Response:
    case_id, name = request.path_params["case_id"], request.path_params["action"]
    form = await checked_form(request)
    if name not in ACTIONS:
        raise HTTPException(404, f"Action inconnue : {name}")
    role, label = ACTIONS[name]
    user = require(request, role)
    try:
        desk = RequestDesk(request.app.state.desk, case_id=case_id, seen=seen_field(form))
        text = await run_in_threadpool(_perform, desk, case_id, name, form, user.name, request.app.state.today())
        flash(request, text + desk.rates_note())
    except RelanceError as exc:
        flash(request, f"{label} non enregistré(e) : {refusal(exc)}", "error")
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


class PageOutdated(CaseError):
    """The case changed after the page whose form was sent showed it: a second click, or a colleague's action."""


def seen_field(form: FormData) -> int | None:
    """The length of the case's timeline when the page showed the form (its hidden ``seen`` field), if sent."""
    text = field(form, "seen")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise CaseError("formulaire altéré (seen) : rechargez la page et recommencez")
    return int(text)


def refusal(exc: RelanceError) -> str:
    """Why an action was not recorded, for the flash message: the database's contention said in French."""
    if isinstance(exc, ConcurrentChange):
        return ("le dossier a été modifié au même moment par quelqu'un d'autre ou par un traitement ; rien n'a été "
                "enregistré : relisez le dossier et recommencez si besoin")
    if isinstance(exc, BusyError):
        return ("la base de données est occupée par un autre traitement (relance run, import) ; rien n'a été "
                "enregistré : réessayez dans un instant")
    return without_paths(exc.french or str(exc))


def _perform(desk: Any, case_id: int, name: str, form: FormData, by: str, today: date) -> str:
    """Run the action named ``name`` with the form's fields; the French sentence of what happened."""
    _, label = ACTIONS[name]
    with desk.session() as session:
        ref = ref_of(session, case_id)
    on = action_day(form, today)
    reason = field(form, "reason") or None  # required or not: engine.cases.actions.reason_of says
    if name == "pay":
        done = actions.pay(desk, ref, field(form, "amount"), on, by=by, reference=field(form, "reference") or None)
        amount = format_amount(done.amount or Decimal(0), done.currency)
        excess = done.excess(french=True)
        return (f"Paiement de {amount} enregistré le {on:%d/%m/%Y} ; état : {_moved(desk, done)}"
                + (f" ; {excess}" if excess else ""))
    options: dict[str, Any] = {}
    if name == "promise":
        if not field(form, "until"):
            raise CaseError("une promesse a une date (jusqu'au)")
        options["until"] = parse_date(field(form, "until"))
    if name == "jump":
        options["dest"] = field(form, "dest")
    done = actions.ACTIONS[name](desk, ref, on=on, by=by, reason=reason, **options)
    return f"{label} enregistré(e) ; état : {_moved(desk, done)}"


class RequestDesk:
    """The shared desk, for one request's action: it keeps the rates the letters of this action relied on.
    The App's own ``rates_used`` belongs to whichever request wrote last when two act at once.

    Given the case and the length of its timeline the page showed (``seen``), each unit of work first checks
    it is still that long, inside its own write transaction: a form sent twice (a double click, a reload) or
    after someone else acted records nothing the second time (PageOutdated), whatever the page said then."""

    def __init__(self, desk: Any, *, case_id: int | None = None, seen: int | None = None) -> None:
        self._desk = desk
        self.shared = desk  # the App, whose units of work check nothing
        self.rates_used: Any = None
        self.case_id, self.seen = case_id, seen

    def __getattr__(self, name: str) -> Any:  # escalators, workflows, the workspace: the shared desk's
        return getattr(self._desk, name)

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A unit of work that writes: on SQLite it waits its turn behind a run (see engine.store's Store.session)."""
        with self._desk.session(write=True) as session:
            if self.case_id is not None and self.seen is not None:
                now = timeline_length(session, self.case_id)
                if now != self.seen:
                    raise PageOutdated(
                        f"le dossier a changé depuis l'affichage de la page : {now - self.seen} événement(s) de plus "
                        "dans sa chronologie, ci-dessous (un premier envoi de ce même formulaire, l'action d'un "
                        "collègue ou un traitement) ; rien n'a été enregistré cette fois")
            yield session

    def letter_writer(self, *, pdf: bool = False) -> Any:
        writer = self._desk.letter_writer(pdf=pdf)
        self.rates_used = getattr(writer, "rates_used", None)
        return writer

    def rates_note(self) -> str:
        """What `relance run` warns of, for the team that just wrote a letter here: '' when nothing."""
        from engine.app import rates_summary

        # The file as the team knows it, never the server's path (engine.app.App.rates_name).
        rates = rates_summary(self.rates_used, getattr(self._desk, "rates_name", "le fichier des taux"))
        said = []
        if rates["assumed"]:
            said.append(f"taux reconduits, faute du semestre dans {rates['file']} : {', '.join(rates['assumed'])}")
        if rates["unverified"]:
            said.append(f"taux non vérifiés (verified = no dans {rates['file']}) : {', '.join(rates['unverified'])}")
        return f" — Attention : {' ; '.join(said)}" if said else ""


def _moved(desk: Any, done: actions.Outcome) -> str:
    labels = state_labels(desk)
    label = labels.get(done.state, done.state)
    waiting = (f" ; le passage à « {labels.get(done.awaiting, done.awaiting)} » attend une validation"
               if done.awaiting is not None else "")
    return label + (f" (après {len(done.steps)} étape(s))" if done.steps else "") + waiting


def action_day(form: FormData, today: date) -> date:
    """The day an action happened (the form's ``on``, today when empty): never after today, since what the
    timeline records as done on a day (a payment received, a call made) cannot have happened yet."""
    return happened_by(parse_date(field(form, "on")) if field(form, "on") else today, today)


def field(form: FormData, key: str) -> str:
    """A form field as typed, trimmed ('' when absent); refused past MAX_TEXT characters."""
    value = form.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > MAX_TEXT:
        label = FIELD_LABELS.get(key, key)
        raise CaseError(f"{label} : {len(text)} caractères, {MAX_TEXT} au plus")
    return text


def download_letter(request: Request) -> Response:
    current_user(request)
    desk = request.app.state.desk
    with desk.session() as session:
        try:
            ref = ref_of(session, request.path_params["case_id"])
            path, name = letter_file(session, ref, request.path_params["document_id"], desk.workspace.output_dir)
        except DocumentError as exc:
            raise HTTPException(404 if isinstance(exc, NoSuchDocument) else 409, refusal(exc)) from None
        except RelanceError as exc:
            raise HTTPException(404, refusal(exc)) from None
    return FileResponse(path, media_type=DOCX, filename=name)


async def view_letter(request: Request) -> Response:
    """The letter as a PDF, shown in the browser (made by LibreOffice on first view when `--pdf` did not)."""
    current_user(request)
    desk = request.app.state.desk

    def find_pdf() -> tuple[Any, str]:
        with desk.session() as session:
            ref = ref_of(session, request.path_params["case_id"])
            return letter_pdf(session, ref, request.path_params["document_id"], desk.workspace.output_dir)

    try:
        path, name = await run_in_threadpool(find_pdf)
    except NoSuchDocument as exc:
        raise HTTPException(404, refusal(exc)) from None
    except DocumentError as exc:
        raise HTTPException(409, refusal(exc)) from None
    except RelanceError as exc:
        raise HTTPException(404, refusal(exc)) from None
    return FileResponse(path, media_type="application/pdf", filename=name, content_disposition_type="inline")


def printable_timeline(request: Request) -> Response:
    """The printable timeline of the command line (`relance timeline --format html`), as it is."""
    desk = request.app.state.desk
    with desk.session() as session:
        try:
            case = require_case(session, ref_of(session, request.path_params["case_id"]))
        except RelanceError as exc:
            raise HTTPException(404, refusal(exc)) from None
        # The case's state named as the version it runs on names it, as `relance timeline` does.
        text = render_timeline(session, case, "html", desk.state_labels(case.workflow_name, case.workflow_version),
                               zone=desk.zone)
    return HTMLResponse(text, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def _whole(text: str | None, what: str) -> int | None:
    """A whole number typed in the field ``what`` of the list (None when empty)."""
    if not text or not text.strip():
        return None
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):  # "²" is a digit to str.isdigit(), not to int()
        raise ListingError(f"{what} : {text!r} n'est pas un nombre entier (par exemple 30)")
    if len(digits) > 9:
        raise ListingError(f"{what} : {digits} est trop grand")
    return int(digits)


def flag(text: str | None, what: str) -> bool:
    """A check box of a list's URL: "1" when ticked, absent or empty when not. Any other value is a hand-edited
    URL: said, rather than read as "not ticked" and a list shown as if it had been asked for."""
    if text is None or text == "":
        return False
    if text == "1":
        return True
    raise ListingError(f"{what} : « {text} » n'est pas une valeur de ce filtre (1 pour le cocher, rien sinon)")


def _descending(text: str | None) -> bool:
    if text in (None, "", "asc", "desc"):
        return text == "desc"
    raise ListingError(f"Ordre : « {text} » inconnu (asc pour croissant, desc pour décroissant)")


def _state(text: str | None, labels: StateNames) -> str | None:
    """The state filter: a state of one of the workspace's workflows, in any version cases ran on, else the
    known ones are listed (an unknown state listed no case and said nothing, as if none were in it)."""
    if not text:
        return None
    known = labels.unknown(text)
    if known is not None:
        raise ListingError(f"État inconnu « {text} » : les états connus sont {known}")
    return text


def _page_size(text: str | None) -> int:
    """Rows per page (``?par=N``): 1 to MAX_PAGE, PAGE_SIZE when not given."""
    size = _whole(text, "Dossiers par page")
    if size is None:
        return PAGE_SIZE
    if not 1 <= size <= MAX_PAGE:
        raise ListingError(f"Dossiers par page : de 1 à {MAX_PAGE}, pas {size}")
    return size


ROUTES = [
    Route("/cases", case_list),
    Route("/find", find),
    Route("/cases/{case_id:id}", case_page),
    Route("/cases/{case_id:id}/actions/{action}", case_action, methods=["POST"]),
    Route("/cases/{case_id:id}/letters/{document_id:id}", download_letter),
    Route("/cases/{case_id:id}/letters/{document_id:id}/pdf", view_letter),
    Route("/cases/{case_id:id}/timeline", printable_timeline),
]
