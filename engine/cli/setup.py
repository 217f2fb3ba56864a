"""Commands that set things up and check them: init, validate, diagram, letters check, db upgrade.

Workflows, letters, the demo and rich load inside each command (start-up stays fast); problems quote
files the user wrote, so they are printed through engine.reports.terminal."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli.options import DateParam, Settings, json_option
from engine.cli.output import console, errors_console
from engine.reports.terminal import cell, inert, json_text, markup

if TYPE_CHECKING:
    from engine.demo import DemoResult
    from engine.letters.paragraphs import LetterProblem
    from engine.workspace import Workspace


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--creditor", "creditor_toml", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A TOML file with your [creditor] identity (default: the example creditor, to edit).")
@click.option("--force", is_flag=True, help="Overwrite an existing relance.toml.")
@click.option("--examples", is_flag=True,
              help="Also copy the example debtors, invoices, payments and events to DIRECTORY/examples, to try "
                   "relance on them before your own data.")
@click.pass_obj
def init_command(settings: Settings, directory: Path, creditor_toml: Path | None, force: bool,
                 examples: bool) -> None:
    """Create a workspace in DIRECTORY: relance.toml, your own copies of the workflows and
    letters to customise, an output folder, and the database (the SQLite file of the
    workspace, or the one --db names)."""
    from engine.workspace import init_workspace

    config = init_workspace(directory, creditor_toml, force=force, examples=examples)
    # Through Settings, so --db is honoured and a bad URL is the same one-line error as elsewhere.
    settings.use_workspace(config.parent)
    store = settings.app.store
    console.print(f"Workspace ready: [bold]{markup(config.parent)}[/]")
    console.print(cell(f"  settings   {config}"))
    console.print(cell(f"  workflows  {config.parent / 'workflows'}  (edit delays and guards here)"))
    console.print(cell(f"  letters    {config.parent / 'letters' / 'fr'}  (open and edit in Word)"))
    console.print(cell(f"  database   {store.display_url}"
                       + ("  (from --db: put it under [database] in relance.toml to keep it)" if settings.db else "")))
    if examples:
        console.print(cell(f"  examples   {config.parent / 'examples'}  (example data to try)"))
        console.print(cell(f"Next: cd {config.parent} && relance import examples/debtors.csv examples/invoices.csv "
                           "examples/payments.csv"))
    else:
        console.print(cell(f"Next: cd {config.parent} && relance import debtors.csv invoices.csv  (your own files; "
                           "`relance init DIR --examples` copies example ones)"))


@click.command("validate")
@click.argument("workflows", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@json_option()
@click.pass_obj
def validate_command(settings: Settings, workflows: tuple[Path, ...], as_json: bool) -> None:
    """Check WORKFLOW files before any letter goes out: YAML, keys, states, delays, guards,
    and the letter templates they use. Lists every problem with file, line and key;
    exits 1 when there is any error (warnings alone pass)."""
    workspace = settings.workspace_if_any
    problems = [problem for path in workflows for problem in _workflow_and_letter_problems(path, workspace)]
    named = {path.resolve() for path in workflows}
    problems += [problem for problem in _outdated_copies(settings) if Path(str(problem["file"])) in named]
    _report_problems(problems, ", ".join(str(p) for p in workflows), as_json)


@click.command("diagram")
@click.argument("workflow", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--version", "version", type=click.IntRange(min=1), metavar="N",
              help="Draw version N of this workflow as the workspace's database kept it (the version older "
                   "cases run on); default: the file as it is.")
@click.pass_obj
def diagram_command(settings: Settings, workflow: Path, version: int | None) -> None:
    """Print the WORKFLOW as a Mermaid state diagram (paste it in a Markdown file or mermaid.live)."""
    from engine.core.diagram import mermaid
    from engine.core.workflow import load_workflow

    drawn = load_workflow(workflow, limits=settings.limits)
    if version is not None and version != drawn.version:  # only then is a workspace's database needed
        from engine.cases.workflows import drawn_version

        with settings.app.session() as session:
            drawn = drawn_version(session, drawn, version, settings.limits)
    click.echo(inert(mermaid(drawn), keep="\n"))  # a workflow file may hold escapes too


@click.group("letters")
def letters_group() -> None:
    """Work with the Word letter templates."""


@letters_group.command("check")
@click.argument("folder", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--agency", is_flag=True, help="Also check the mentions a collection agency's letters must carry "
              "(CPCE R124-4); on whenever the workspace's relance.toml has an [agency] table.")
@json_option()
@click.pass_obj
def letters_check_command(settings: Settings, folder: Path | None, agency: bool, as_json: bool) -> None:
    """Check every template in FOLDER (default: the workspace's letters/fr): Jinja syntax,
    unknown variables, tags broken by Word, wording that imitates a court or a bailiff in
    amicable letters, and the mentions each letter must carry. Exits 1 on any error."""
    from engine.letters.check import check_folder

    workspace_folder = None
    if settings.workspace_if_any is not None:
        workspace_folder = settings.workspace.letters_dir or settings.workspace.root / "letters" / "fr"
    folder = folder or workspace_folder
    if folder is None:  # no workspace here: settings.workspace says so in one line
        folder = settings.workspace.root
    agency = agency or _agency_mode(settings)
    problems = [_letter_problem(p) for p in check_folder(folder, limits=settings.limits, agency=agency)]
    if workspace_folder is not None and folder.resolve() == workspace_folder.resolve():
        problems += _versions_in_use_problems(settings)  # the folder the run takes every version's letters from
    _report_problems(problems + _outdated_copies(settings, "letters/"), str(folder), as_json)


def _versions_in_use_problems(settings: Settings) -> list[dict[str, object]]:
    """What the run would refuse in the workflow versions open cases run on: the workspace's current files, and
    each older version rebuilt from its kept text (a letter its states name that the folder no longer has...),
    each problem naming the version and the step. Reads the database only: nothing is kept or moved."""
    from engine.cases.workflows import open_versions
    from engine.core.workflow import WorkflowError, load_workflow
    from engine.errors import RelanceError

    workspace, limits = settings.workspace, settings.limits
    found: list[dict[str, object]] = []

    def refused(exc: RelanceError, version: int | None, cases: int | None) -> None:
        whose = f" ({cases} open case(s) run on version {version})" if cases else ""
        located = [p for p in exc.problems if p.severity == "error"] if isinstance(exc, WorkflowError) else []
        for problem in located:
            found.append({"severity": "error", "file": problem.file, "line": problem.line, "key": problem.key,
                          "version": version, "message": problem.message, "text": problem.located + whose})
        if not located:  # a kept text that was never kept, a database refusal: no file line to point at
            found.append({"severity": "error", "file": None, "line": None, "key": None, "version": version,
                          "message": str(exc), "text": str(exc) + whose})

    with settings.app.session() as session:
        for path in dict.fromkeys(workspace.workflows.values()):
            try:
                current = load_workflow(path, limits=limits)
            except RelanceError as exc:  # the current version is every new case's: the run refuses it too
                refused(exc, None, None)
                continue
            for version, cases, refusal in open_versions(session, current, limits):
                if refusal is not None:
                    refused(refusal, version, cases)
    return found


def _outdated_copies(settings: Settings, under: str = "") -> list[dict[str, object]]:
    """Warnings for the workspace's files ``under`` a folder that are an earlier release's shipped copy, never
    edited: after an upgrade the team keeps its copies, and is told which ones the release has improved."""
    from engine.shipped_history import outdated_copies

    workspace = settings.workspace_if_any
    if workspace is None:
        return []
    return [{"severity": "warning", "file": str(found.copy), "line": None, "key": None, "message": advice,
             "text": advice}
            for found in outdated_copies(workspace.root)
            if str(found.copy.relative_to(workspace.root)).startswith(under)
            for advice in [found.advice(workspace.root)]]


def _agency_mode(settings: Settings) -> bool:
    """Whether the workspace (if there is one: a folder may be checked outside any) writes as a collection agency."""
    workspace = settings.workspace_if_any
    return workspace is not None and workspace.agency is not None


def _report_problems(problems: list[dict[str, object]], subject: str, as_json: bool) -> None:
    """Print problems (or JSON); exit 1 when any is an error, since warnings alone must not block."""
    errors = [p for p in problems if p["severity"] == "error"]
    if as_json:
        click.echo(json_text({"ok": not errors, "problems": problems}, indent=2))
    else:
        for problem in problems:
            style = "red" if problem["severity"] == "error" else "yellow"
            errors_console.print(f"[{style}]{problem['severity']}[/]: {markup(problem['text'])}")
        if errors:
            errors_console.print(f"[red]{len(errors)} error(s)[/] in {markup(subject)}")
        else:
            console.print(f"[green]ok[/] {markup(subject)}" + (f" ({len(problems)} warning(s))" if problems else ""))
    if errors:
        raise SystemExit(1)


@click.group("db")
def db_group() -> None:
    """The database's schema (SQLite or PostgreSQL, per --db): bring it up to date after an upgrade of relance."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade_command(settings: Settings) -> None:
    """Bring the database to the current schema (Alembic migrations); safe to run twice."""
    from engine.app import upgrade_schema

    console.print(f"[green]ok[/] schema at head: {markup(upgrade_schema(settings.workspace))}")
    for problem in _outdated_copies(settings):
        errors_console.print(f"[yellow]note[/]: {markup(problem['text'])}")


def _workflow_and_letter_problems(path: Path, workspace: Workspace | None) -> list[dict[str, object]]:
    """Workflow problems, then, when the workflow itself is sound, the problems of the letters and e-mail
    templates it uses, taken from the folder a run in ``workspace`` (if any) takes them from."""
    from engine.core.limits import DEFAULT_LIMITS
    from engine.core.workflow import TemplatePathError, check_workflow, load_workflow, template_path
    from engine.letters.check import check_email_templates, check_template
    from engine.letters.email import email_files
    from engine.letters.paragraphs import LetterProblem

    limits = DEFAULT_LIMITS if workspace is None else workspace.limits
    agency = workspace is not None and workspace.agency is not None  # the run checks an agency's mentions too

    # "text" without the level: the listing prints the severity in front ("warning: wf.yaml:7: ...").
    found: list[dict[str, object]] = [
        {"severity": p.severity, "file": str(p.file), "line": p.line, "key": p.key,
         "message": p.message, "text": p.located}
        for p in check_workflow(path, limits=limits)
    ]
    if any(p["severity"] == "error" for p in found):
        return found
    workflow = load_workflow(path, limits=limits)
    if workspace is not None:
        workflow = workspace.with_letters(workflow)
    for state in workflow.states.values():
        if state.letter:
            try:
                # The run's own resolution: a name or a symbolic link leading out of the folder is refused.
                template = template_path(workflow.letters_dir, state.letter)
            except TemplatePathError as exc:
                found.append(_letter_problem(LetterProblem(state.letter, "outside", str(exc))))
                continue
            found.extend(_letter_problem(p) for p in check_template(template, kind=state.kind, limits=limits,
                                                                    agency=agency))
    emails = sorted({name for state in workflow.states.values() if "email" in state.channels
                     for name in email_files(workflow.letters_dir, state.name)})
    found.extend(_letter_problem(p) for p in check_email_templates(workflow.letters_dir, emails, limits=limits))
    return found


def _letter_problem(problem: LetterProblem) -> dict[str, object]:
    """A letter problem is an error (a letter that may not render must not go out), or a warning when only some
    cases' letters would fail (a debtor abroad): those fail one by one in a run, the others go out."""
    return {"severity": problem.severity, "template": problem.template, "code": problem.code, "tag": problem.tag,
            "paragraph": problem.paragraph, "message": problem.message, "text": str(problem)}


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("relance-demo"), show_default=True, help="Where to build the demo workspace.")
@click.option("--until", type=DateParam(), help="Simulate up to this day (default: until every level occurred).")
@click.option("--pdf", is_flag=True, help="Also convert each letter to PDF (needs LibreOffice; slow).")
def demo_command(directory: Path, until: date | None, pdf: bool) -> None:
    """Build a demo workspace on SQLite with the example data (48 debtors, 172 invoices,
    payments, disputes, promises to pay, holds) and run it day by day from the first due date
    until both workflows (B2B and B2C) have sent every letter. Starts over each time, and so
    refuses a folder that holds anything but an earlier demo."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.demo import run_demo

    with Progress(TextColumn("[bold]simulating[/] {task.fields[day]}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=errors_console.console, transient=True) as bar:
        task = bar.add_task("days", total=None, day="")
        result = run_demo(directory, until=until, pdf=pdf,
                          on_day=lambda day, done, total: bar.update(task, completed=done, total=total,
                                                                     day=day.isoformat()))
    _print_demo(result)


def _print_demo(result: DemoResult) -> None:
    from rich.columns import Columns
    from rich.table import Table

    from engine.core.money import format_amount

    console.print(f"Simulated {result.days} days, {result.first_day} → {result.last_day}, "
                  f"in workspace [bold]{markup(result.root)}[/]")
    states = Table(title="Cases per state")
    states.add_column("state")
    states.add_column("cases", justify="right")
    for state, count in sorted(result.cases_by_state.items(), key=lambda item: -item[1]):
        states.add_row(cell(state), str(count))
    letters = Table(title="Letters written")
    letters.add_column("letter")
    letters.add_column("count", justify="right")
    for template, count in sorted(result.letters_by_template.items()):
        letters.add_row(cell(template), str(count))
    console.print(Columns([states, letters]))
    console.print(f"Recovered by the escalation: [bold]{format_amount(result.recovered)}[/]")
    for line in result.actions:
        console.print(cell(f"  {line}"))
    work = result.channels
    console.print(cell(f"E-mails sent:  {work.emails} (backend \"file\": one .eml per Message-ID in {work.mail_dir})"))
    console.print(cell("Calls made:    " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(work.calls.items()))
                       + "  (relance tasks, relance case call)"))
    console.print(cell(f"Approvals:     {len(work.approvals)} (relance approvals, relance approve), e.g."))
    for line in work.approvals[:3]:
        console.print(cell(f"  {line}"))
    if work.receipt:
        console.print(cell(f"Receipt:       {work.receipt}"))
    console.print(cell(f"Letters:       {result.letters_dir}"))
    for path in result.sample_letters:
        console.print(cell(f"  e.g.         {path}"))
    if result.timeline_html:
        console.print(cell(f"Timeline:      {result.timeline_html}"))
    if result.report_html:
        console.print(cell(f"Report:        {result.report_html}"))
    console.print(cell(f"Try next:      cd {result.root} && relance report && relance verify"))
    name, password = result.web_user
    console.print(cell(f"Web app:       {result.serve_command}   then open http://127.0.0.1:8000/ "
                       f"and sign in as {name} / {password}"))


COMMANDS = [init_command, demo_command, validate_command, diagram_command, letters_group, db_group]
