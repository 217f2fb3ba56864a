"""Commands that set things up and check them: init, validate, diagram, letters check, db upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from engine.cli import Settings, json_option
from engine.workspace import init_workspace

console = Console(highlight=False)
errors_console = Console(stderr=True, highlight=False)


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--creditor", "creditor_toml", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A TOML file with your [creditor] identity (default: the example creditor, to edit).")
@click.option("--force", is_flag=True, help="Overwrite an existing relance.toml.")
def init_command(directory: Path, creditor_toml: Path | None, force: bool) -> None:
    """Create a workspace in DIRECTORY: relance.toml, your own copies of the workflows and
    letters to customise, and an output folder. The database is created on first use."""
    config = init_workspace(directory, creditor_toml, force=force)
    from engine.store import connect
    from engine.workspace import load_workspace

    workspace = load_workspace(config.parent)
    connect(workspace.database_url).upgrade()
    console.print(f"Workspace ready: [bold]{config.parent}[/]")
    console.print(f"  settings   {config}")
    console.print(f"  workflows  {config.parent / 'workflows'}  (edit delays and guards here)")
    console.print(f"  letters    {config.parent / 'letters' / 'fr'}  (open and edit in Word)")
    console.print(f"  database   {workspace.database_url}")
    console.print(f"Next: cd {config.parent} && relance import debtors.csv invoices.csv")


@click.command("validate")
@click.argument("workflows", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@json_option()
def validate_command(workflows: tuple[Path, ...], as_json: bool) -> None:
    """Check WORKFLOW files before any letter goes out: YAML, keys, states, delays, guards,
    and the letter templates they use. Lists every problem with file, line and key;
    exits 1 when there is any error (warnings alone pass)."""
    problems = [problem for path in workflows for problem in _workflow_and_letter_problems(path)]
    errors = [p for p in problems if p["severity"] == "error"]
    if as_json:
        click.echo(json.dumps({"ok": not errors, "problems": problems}, ensure_ascii=False, indent=2))
    else:
        for problem in problems:
            style = "red" if problem["severity"] == "error" else "yellow"
            errors_console.print(f"[{style}]{problem['severity']}[/]: {problem['text']}")
        names = ", ".join(str(p) for p in workflows)
        if errors:
            errors_console.print(f"[red]{len(errors)} error(s)[/] in {names}")
        else:
            console.print(f"[green]ok[/] {names}" + (f" ({len(problems)} warning(s))" if problems else ""))
    if errors:
        raise SystemExit(1)


@click.command("diagram")
@click.argument("workflow", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def diagram_command(workflow: Path) -> None:
    """Print the WORKFLOW as a Mermaid state diagram (paste it in a Markdown file or mermaid.live)."""
    from engine.diagram import mermaid
    from engine.workflow import load_workflow

    click.echo(mermaid(load_workflow(workflow)))


@click.group("letters")
def letters_group() -> None:
    """Work with the Word letter templates."""


@letters_group.command("check")
@click.argument("folder", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@json_option()
@click.pass_obj
def letters_check_command(settings: Settings, folder: Path | None, as_json: bool) -> None:
    """Check every template in FOLDER (default: the workspace's letters/fr): Jinja syntax,
    unknown variables, tags broken by Word, wording that imitates a court or a bailiff in
    amicable letters, and the mentions each letter must carry. Exits 1 on any error."""
    from engine.letters import check_folder

    if folder is None:
        folder = settings.workspace.root / "letters" / "fr"
    problems = check_folder(folder)
    rows = [_letter_problem(p) for p in problems]
    errors = [r for r in rows if r["severity"] == "error"]
    if as_json:
        click.echo(json.dumps({"ok": not errors, "problems": rows}, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            style = "red" if row["severity"] == "error" else "yellow"
            errors_console.print(f"[{style}]{row['severity']}[/]: {row['text']}")
        if not errors:
            console.print(f"[green]ok[/] {folder}" + (f" ({len(rows)} warning(s))" if rows else ""))
    if errors:
        raise SystemExit(1)


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade_command(settings: Settings) -> None:
    """Bring the database to the current schema (Alembic migrations); safe to run twice."""
    settings.store.upgrade()
    console.print(f"[green]ok[/] schema at head: {settings.store.display_url}")


def _workflow_and_letter_problems(path: Path) -> list[dict[str, object]]:
    """Workflow problems, then, when the workflow itself is sound, the problems of the letters it uses."""
    from engine.letters import check_template
    from engine.workflow import check_workflow, load_workflow

    found = [
        {"severity": p.severity, "file": str(p.file), "line": p.line, "key": p.key,
         "message": p.message, "text": str(p)}
        for p in check_workflow(path)
    ]
    if any(p["severity"] == "error" for p in found):
        return found
    workflow = load_workflow(path)
    for state in workflow.states.values():
        if state.letter:
            template = workflow.letters_dir / state.letter
            found.extend(_letter_problem(p) for p in check_template(template, kind=state.kind))
    return found


def _letter_problem(problem: object) -> dict[str, object]:
    return {
        "severity": getattr(problem, "severity", "error"),
        "template": str(getattr(problem, "template", "")),
        "tag": getattr(problem, "tag", None),
        "message": getattr(problem, "message", str(problem)),
        "text": str(problem),
    }


COMMANDS = [init_command, validate_command, diagram_command, letters_group, db_group]
