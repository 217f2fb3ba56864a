"""The pages around the cases: the report, the workflows and their versions, the letter templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.cases import templates
from engine.cases.workflows import UnknownVersion, drawn_version, every_version, version_source, version_usage
from engine.core.diagram import mermaid
from engine.core.money import MoneyError, parse_currency, parse_date
from engine.core.workflow import Workflow, read_source
from engine.errors import BusyError, RelanceError
from engine.letters.check import template_kind
from engine.reports.aging import aging
from engine.reports.funnel import funnel
from engine.reports.html import report_body
from engine.web.cases import RequestDesk, refusal
from engine.web.diagram import workflow_svg
from engine.web import urls  # noqa: F401  (registers {name:id}, used by ROUTES)
from engine.web.render import flash, page
from engine.web.security import checked_form, require

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
KIND_LABELS = {"reminder": "relance amiable", "formal_notice": "mise en demeure", "litigation": "contentieux"}


def distinct_workflows(desk: Any) -> list[Workflow]:
    """One entry per workflow, even when B2B and B2C debtors share a file (as `relance report` counts them)."""
    return list({workflow.name: workflow for workflow in desk.workflows.values()}.values())


def report(request: Request) -> Response:
    """Aging and funnel as `relance report --html` computes and draws them (engine.reports), in the
    currency of ``?devise=`` (EUR by default): two currencies are never added, each has its report."""
    desk = request.app.state.desk
    try:
        as_of = parse_date(request.query_params["date"]) if request.query_params.get("date") else request.app.state.today()
        currency = parse_currency(request.query_params.get("devise") or "EUR")
    except MoneyError as exc:
        raise HTTPException(400, refusal(exc)) from None
    flows = every_version(desk)  # as `relance report`: the states of older versions cases were in count too
    with desk.session() as session:
        body = report_body(aging(session, as_of, currency=currency), funnel(session, as_of, flows, currency=currency),
                           title=desk.workspace.creditor.name, as_of=as_of)
    return page(request, "report.html", body=body, as_of=as_of, currency=currency)


def workflows_page(request: Request) -> Response:
    desk = request.app.state.desk
    flows = distinct_workflows(desk)
    with desk.session() as session:
        usage = version_usage(session)
    shown = [(w, workflow_svg(w), mermaid(w), [u for u in usage if u.name == w.name]) for w in flows]
    return page(request, "workflows.html", workflows=shown)


def workflow_version(request: Request) -> Response:
    """An older (or the current) version of a workflow, drawn from the text the store kept for it."""
    desk = request.app.state.desk
    name, version = request.path_params["name"], request.path_params["version"]
    current = next((w for w in distinct_workflows(desk) if w.name == name), None)
    try:
        if current is None:
            raise UnknownVersion(name)
        with desk.session() as session:
            workflow = drawn_version(session, current, version, desk.workspace.limits)
            # The current version's text is kept once a case used it; until then it is the file's.
            source = version_source(session, name, version) or read_source(current.path, limits=desk.workspace.limits)
    except UnknownVersion:
        raise HTTPException(404, f"Pas de version {version} du workflow {name}.") from None
    except RelanceError as exc:
        raise HTTPException(409, refusal(exc)) from None
    return page(request, "workflow_version.html", workflow=workflow, svg=workflow_svg(workflow), source=source)


def letters_page(request: Request, *, refused: templates.UploadResult | None = None, status: int = 200) -> Response:
    desk = request.app.state.desk
    files = templates.template_files(distinct_workflows(desk))
    rows = [_template_row(desk, name, path) for name, path in files.items()]
    return page(request, "letters.html", status_code=status, templates=rows, refused=refused, kinds=KIND_LABELS)


def _template_row(desk: Any, name: str, path: Path) -> dict[str, Any]:
    stat = path.stat() if path.is_file() else None
    return {"name": name, "kind": template_kind(name), "size": stat.st_size if stat else None,
            "versions": templates.versions(desk, name)}


def download_template(request: Request) -> Response:
    desk = request.app.state.desk
    name = request.path_params["name"]
    path = templates.template_files(distinct_workflows(desk)).get(name)  # only a template the workflows name
    if path is None or not path.is_file():
        raise HTTPException(404, f"Pas de modèle {name}.")
    return FileResponse(path, media_type=DOCX, filename=name)


def download_version(request: Request) -> Response:
    desk = request.app.state.desk
    name, version = request.path_params["name"], request.path_params["version"]
    if name not in templates.template_files(distinct_workflows(desk)):
        raise HTTPException(404, f"Pas de modèle {name}.")
    try:
        content = templates.version_content(desk, name, version)
    except RelanceError as exc:
        raise HTTPException(404, refusal(exc)) from None
    stem = name.rsplit(".", 1)[0]
    return Response(content, media_type=DOCX,
                    headers={"Content-Disposition": f'attachment; filename="{stem}-v{version}.docx"'})


async def upload_template(request: Request) -> Response:
    form = await checked_form(request)
    user = require(request, "legal")
    desk = request.app.state.desk
    name = request.path_params["name"]
    files = templates.template_files(distinct_workflows(desk))
    if name not in files:
        raise HTTPException(404, f"Pas de modèle {name}.")
    sent = form.get("file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        flash(request, "Choisissez un fichier .docx à envoyer.", "error")
        return RedirectResponse("/letters", status_code=303)
    # Checked as the run will check it: the workspace's limits, and an agency's mentions when one writes.
    limits, agency = desk.workspace.limits, desk.workspace.agency is not None
    content = await sent.read(limits.docx_bytes + 1)
    try:
        result = await run_in_threadpool(templates.upload, RequestDesk(desk), files, name, content, by=user.name,
                                         limits=limits, agency=agency)
    except (templates.TemplateError, BusyError) as exc:  # the file in place cannot be kept, or the database is
        flash(request, f"{name} non enregistré : {refusal(exc)}", "error")  # busy: said in one line, nothing changed
        return RedirectResponse("/letters", status_code=303)
    if not result.accepted:
        return letters_page(request, refused=result, status=422)
    warnings = "".join(f" Attention : {problem.in_french}." for problem in result.problems)
    flash(request, f"{name} : version {result.version} enregistrée ; les prochains courriers l'utilisent.{warnings}",
          "warning" if warnings else "ok")
    return RedirectResponse("/letters", status_code=303)


ROUTES = [
    Route("/report", report),
    Route("/workflows", workflows_page),
    Route("/workflows/{name}/v{version:id}", workflow_version),
    Route("/letters", letters_page),
    Route("/letters/{name}", download_template),
    Route("/letters/{name}/v{version:id}", download_version),
    Route("/letters/{name}/upload", upload_template, methods=["POST"]),
]
