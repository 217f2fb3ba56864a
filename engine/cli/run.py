"""Commands that move money and cases: import, run, report.

The application, the importer, the reports and rich load inside each command (start-up stays fast);
file names, refs and reasons are printed through engine.reports.terminal."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.cli.options import (
    CurrencyParam,
    Settings,
    as_of_option,
    json_option,
    print_failures,
    settled_heap,
    today_or,
)
from engine.cli.output import console, print_rates
from engine.reports.terminal import cell, inert, json_text, markup

if TYPE_CHECKING:
    from engine.app import App
    from engine.imports.importer import ImportFailed


def _encoding_option(context: click.Context, parameter: click.Parameter, name: str) -> str:
    """An encoding Python reads text in, refused before any file is opened."""
    from engine.imports.csvfile import text_encoding

    try:
        text_encoding(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return name


@click.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["debtors", "invoices", "payments", "credit_notes", "events", "tracking"]),
              help="What the files hold (default: read from each file's header).")
@click.option("--skip-bad-rows", is_flag=True,
              help="Import the good rows and write the refused ones, with their reason, "
              "to FILE.rejected.csv (default: a bad row refuses the whole file).")
@click.option("--allow-extra-columns", is_flag=True,
              help="Ignore columns relance does not know, with a warning (default: an unknown column, "
              "often a misspelt one, refuses the file).")
@click.option("--encoding", default="utf-8", show_default=True, callback=_encoding_option,
              help="The files' encoding: cp1252 for Excel's « CSV (séparateur : point-virgule) » "
              "(« CSV UTF-8 » needs none).")
@json_option()
@click.pass_obj
def import_command(settings: Settings, files: tuple[Path, ...], kind: str | None,
                   skip_bad_rows: bool, allow_extra_columns: bool, encoding: str, as_json: bool) -> None:
    """Load debtors, invoices, credit notes and payments from CSV files (UTF-8 unless --encoding, `;` or `,`,
    amounts as 1234.56 or 1 234,56, dates as YYYY-MM-DD or dd/mm/yyyy); also events
    (disputes, promises, holds, calls: event_date;debtor_ref;action;until;reason) and
    registered-letter receipts (tracking.csv: case_ref;tracking;presented_on;received_on).
    Importing the same file twice changes nothing. Any bad row is reported with file, line and
    column, and nothing of that file is imported unless --skip-bad-rows. A column relance does not
    know is an error (a misspelt column would lose its data) unless --allow-extra-columns."""
    from rich.table import Table

    from engine.imports.importer import ImportFailed
    from engine.workers import wake_workers

    app = settings.app
    try:
        reports = app.import_files(list(files), kind=kind, skip_bad_rows=skip_bad_rows,
                                   allow_extra_columns=allow_extra_columns, encoding=encoding)
    except ImportFailed as refused:
        if refused.imported:
            wake_workers(app.store)  # the files before the refused one are in, each in its own transaction
        raise click.ClickException(_refusal(refused) + _others(refused)) from None
    wake_workers(app.store)  # sleeping `relance worker`s on PostgreSQL look at the new invoices now
    if as_json:
        click.echo(json_text([
            {"file": r.file, "kind": r.kind, "rows": r.rows, "inserted": r.inserted, "updated": r.updated,
             "unchanged": r.unchanged, "rejected": r.rejected,
             "rejects_file": str(r.rejects_path) if r.rejects_path else None,
             "warnings": [str(w) for w in r.warnings]}
            for r in reports
        ], indent=2))
        return
    table = Table(title="Import")
    for column in ("file", "kind", "rows", "new", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="left" if column in ("file", "kind") else "right")
    for r in reports:
        table.add_row(cell(Path(r.file).name), r.kind, str(r.rows), str(r.inserted), str(r.updated),
                      str(r.unchanged), str(r.rejected))
    console.print(table)
    for r in reports:
        for warning in r.warnings:
            console.print(f"[yellow]warning[/]: {markup(warning)}")
        if r.rejected:
            console.print(f"[yellow]{r.rejected} row(s) of {markup(r.file)} refused[/], see {markup(r.rejects_path)}")
            for problem in r.problems[:10]:
                console.print(cell(f"  {problem}"))


def _others(refused: ImportFailed) -> str:
    """What became of a command's other files: those before the refused one are imported and stay, those
    after it were not read. Said, so nobody takes the refusal for the whole command's and imports twice,
    or believes the later files went in."""
    lines = [f"imported before it (kept): {Path(r.file).name} ({r.inserted} new, {r.updated} updated, "
             f"{r.unchanged} unchanged)" for r in refused.imported]
    lines += [f"not imported (after the refused file): {Path(name).name}" for name in refused.not_tried]
    return "".join(f"\n{inert(line)}" for line in lines)


def _refusal(refused: ImportFailed) -> str:
    """A refused file, said first on one line (which file, how many rows, what to do), then each row."""
    problems = refused.problems
    if refused.whole_file or (len(problems) == 1 and refused.total == 1 and problems[0].line <= 1):
        # The file as a whole: not found, not UTF-8, its header, its quoting.
        return "\n".join(inert(str(problem)) for problem in problems)
    file = problems[0].file if problems else "the file"
    lines = [f"{file}: {refused.total} bad row(s), nothing of this file imported; fix them, "
             f"or pass --skip-bad-rows to import the good rows"]
    lines += [f"  {problem}" for problem in problems[:20]]
    if refused.total > 20:
        lines.append(f"  ... and {refused.total - 20} more")
    return "\n".join(inert(line) for line in lines)


@click.command("run")
@as_of_option("The day to run as of (YYYY-MM-DD); default today. Letters are dated that day.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@click.option("--pdf", is_flag=True, help="Also write a PDF beside each letter (needs LibreOffice).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel processes: on PostgreSQL, runs that split the due cases; on SQLite (one writer), "
                   "the run and N-1 processes that render its letters beside it.")
@click.option("--print", "print_post", is_flag=True,
              help="Then bind the day's postal letters into one PDF (as `relance print --date` does).")
@json_option()
@click.pass_obj
def run_command(settings: Settings, as_of: date | None, dry_run: bool, pdf: bool, workers: int, print_post: bool,
                as_json: bool) -> None:
    """Open cases for newly overdue invoices, then move every case that is due one step
    and write its letters; after the commits, send the e-mails of the outbox ([smtp]) and, with
    --pdf, convert the letters in one LibreOffice batch. Running twice for the same day does
    nothing the second time.

    A case that cannot move (a guard or a letter failing on its data, a missing rate) is left as
    it was, with the reason, and the others go on; the run then exits 1 (`relance case list
    --errors` lists those cases). A template with errors or an output folder that takes no file
    stops the run before it opens anything."""
    from engine.app import summary
    from engine.cli.channels import delivery_json, print_delivery, print_json, show_print

    day = today_or(as_of)
    app = settings.app
    shared = workers > 1 and app.store.is_postgresql
    if workers > 1 and dry_run:
        raise click.UsageError("--dry-run runs in one process: drop --workers")
    with settled_heap():
        if shared:
            from engine.workers import run_parallel

            reports = run_parallel(app, day, workers=workers, pdf=pdf)
        else:
            # SQLite takes one writer: the other workers render its letters (engine.cases.renderers). The run
            # counts as one of the N, as a worker does on PostgreSQL: it renders letters itself whenever the
            # renderers are all busy, so a renderer per core only added a process to take turns with (2,000
            # letters on 2 cores, 19 interleaved pairs: 1 renderer took 0.94x the time of 2, median).
            reports = _run_with_progress(app, day, dry_run=dry_run, pdf=pdf, quiet=as_json, renderers=workers - 1)
    totals = summary(reports, app.rates_used, app.rates_file)
    planned = [step for report in reports for step in report.planned]
    after = None if dry_run else app.after_run
    bundle = app.print_day(day) if print_post and not dry_run else None
    if as_json:
        totals["as_of"] = day.isoformat()
        totals["dry_run"] = dry_run
        totals["emails"] = delivery_json(after.delivery) if after else None
        totals["pdf"] = {"processes": after.pdf_processes, "failures": after.pdf_failures} if after else None
        totals["print"] = print_json(bundle) if bundle else None
        totals["steps_detail"] = [
            {"case": s.case_ref, "trigger": s.trigger, "from": s.source, "to": s.dest, "letters": list(s.letters)}
            for s in planned
        ]
        click.echo(json_text(totals, indent=2))
        _exit_if_failed(totals)
        return
    from rich.table import Table  # not before: a --json run (a cron's, a script's) never loads rich

    title = f"{'Dry run' if dry_run else 'Run'} of {day.isoformat()}"
    table = Table(title=title)
    for column in ("case", "from", "to", "letter"):
        table.add_column(column)
    for step in planned[:200]:
        table.add_row(cell(step.case_ref), cell(step.source), cell(step.dest), cell(", ".join(step.letters)))
    if planned:
        console.print(table)
    if len(planned) > 200:
        console.print(f"... and {len(planned) - 200} more steps")
    verb = "would take" if dry_run else "took"
    console.print(
        f"{totals['cases_opened']} case(s) {'would be opened' if dry_run else 'opened'}, "
        f"{totals['cases_examined']} examined; "
        f"{verb} {totals['steps']} step(s), {totals['letters']} letter(s)"
        + ("" if dry_run else f" in {markup(settings.workspace.output_dir)}")
    )
    print_failures(console, totals["errors"])
    if after is not None:
        print_delivery(after.delivery)
        for failure in after.pdf_failures:
            console.print(cell(f"no PDF {failure}", "yellow"))
    if bundle is not None:
        show_print(bundle, False)
    if not dry_run:
        print_rates(totals["rates"])
    _exit_if_failed(totals)


def _exit_if_failed(totals: dict[str, Any]) -> None:
    if totals["errors"]:
        raise SystemExit(1)


def _run_with_progress(app: App, day: date, *, dry_run: bool, pdf: bool, quiet: bool, renderers: int = 0) -> list:
    if quiet:
        return app.run(day, dry_run=dry_run, pdf=pdf, renderers=renderers)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.cli.output import errors_console

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=errors_console.console, transient=True) as bar:
        task = bar.add_task("cases", total=None)
        return app.run(day, dry_run=dry_run, pdf=pdf, renderers=renderers,
                       progress=lambda report: bar.update(task, completed=report.cases_examined))


@click.command("report")
@as_of_option()
@click.option("--currency", type=CurrencyParam(), default="EUR", show_default=True,
              help="The currency of the figures: amounts of two currencies are never added, so each has its report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as an HTML page with charts.")
@json_option()
@click.pass_obj
def report_command(settings: Settings, as_of: date | None, currency: str, html_path: Path | None,
                   as_json: bool) -> None:
    """The aging balance (not yet due, 1–30, 31–60, 61–90, over 90 days) and the escalation
    funnel: how many cases reached each step and how much each step recovered, in one currency."""
    from engine.cases.workflows import every_version
    from engine.reports.aging import aging as aging_of
    from engine.reports.export import report_as_dict
    from engine.reports.funnel import funnel as funnel_of
    from engine.reports.html import render_report_html
    from engine.reports.prescription import prescription_as_dict, prescription_table, prescription_watch
    from engine.reports.tables import render_report_tables

    day = today_or(as_of)
    app = settings.app
    flows = every_version(app)  # a case in a state only an older version has is in the funnel too
    with app.session() as session:
        aging = aging_of(session, day, currency=currency)
        funnel = funnel_of(session, day, flows, currency=currency)
        watch = prescription_watch(session, day)
    rates = app.rate_notes(day)
    if as_json:
        data = report_as_dict(aging, funnel)
        data["prescription"] = prescription_as_dict(watch)
        data["rates"] = rates
        click.echo(json_text(data, indent=2, default=str))
    else:
        render_report_tables(aging, funnel, console.console)
        if watch:
            console.print(prescription_table(watch, day))
        else:
            console.print(cell("Prescription: no invoice owed is time-barred or within 90 days of it."))
        print_rates(rates)
    if html_path is not None:
        html_path.write_text(
            render_report_html(aging, funnel, title=settings.workspace.creditor.name, as_of=day),
            encoding="utf-8",
        )
        if not as_json:
            console.print(cell(f"HTML report: {html_path.resolve()}"))


COMMANDS = [import_command, run_command, report_command]
