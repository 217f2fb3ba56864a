"""Commands for what happens outside the engine's own steps: outbox, tasks, case call, approvals,
approve, reject, debtor hold|resume, print."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from engine.cli.cases import case_group
from engine.cli.options import DateParam, Settings, as_of_option, happened_on, json_option, today_or
from engine.cli.output import console, print_rates
from engine.core.case import CALL_OUTCOMES
from engine.core.money import format_amount
from engine.reports.terminal import cell, json_text, markup

if TYPE_CHECKING:
    from engine.cases.debtors import DebtorOutcome
    from engine.cases.outbox import Delivery
    from engine.cases.printing import PrintBundle


@click.command("outbox")
@click.option("--retry", is_flag=True, help="Send every e-mail not yet sent now: those waiting for their next "
              "try and the failed ones (with the debtor's current address).")
@click.option("--all", "include_sent", is_flag=True, help="List the sent e-mails too.")
@as_of_option("The day the sending is recorded on (default today).")
@json_option()
@click.pass_obj
def outbox_command(settings: Settings, retry: bool, include_sent: bool, as_of: date | None, as_json: bool) -> None:
    """The e-mails the steps queued: waiting, failed (and sent, with --all). `relance run` and
    `relance worker` send them after their commits through [smtp] of relance.toml; --retry sends
    now. Exits 1 when an e-mail failed or [smtp] is missing."""
    from rich.table import Table

    from engine.cases.outbox import outbox_rows
    from engine.core.instants import format_instant, iso_instant

    app = settings.app
    delivery = app.deliver(today_or(as_of), retry=True) if retry else None
    with app.session() as session:
        rows = outbox_rows(session, include_sent=include_sent)
    if as_json:
        click.echo(json_text({"delivery": delivery_json(delivery), "emails": [
            {"case": r.case_ref, "step": r.step_key, "to": r.to, "subject": r.subject, "status": r.status,
             "attempts": r.attempts, "message_id": r.message_id,
             "next_attempt_at": iso_instant(r.next_attempt_at, app.zone) if r.next_attempt_at else None,
             "error": r.error, "smtp_response": r.smtp_response} for r in rows]}, indent=2))
    else:
        if delivery is not None:
            print_delivery(delivery)
        table = Table(title=f"{len(rows)} e-mail(s) in the outbox")
        for column in ("case", "to", "subject", "status", "tries", "next try / error"):
            # The case to type in full; an address folds rather than end in "…".
            table.add_column(column, no_wrap=column in ("case", "status", "tries"),
                             overflow="fold" if column == "to" else "ellipsis")
        for r in rows:
            table.add_row(cell(r.case_ref), cell(r.to or "—"), cell(r.subject), r.status, str(r.attempts),
                          cell(" — ".join(filter(None, (
                              f"next try {format_instant(r.next_attempt_at, app.zone)}" if r.next_attempt_at else "",
                              r.error or "")))))
        console.print(table)
    if delivery is not None and (delivery.failed or not delivery.configured or delivery.error):
        raise SystemExit(1)


@click.command("tasks")
@click.option("--due", type=DateParam(), help="Only the tasks due on or before this day (default: every open one).")
@click.option("--kind", "kinds", type=click.Choice(["call", "email_failed"]), multiple=True,
              help="Only this kind of task (repeat for several).")
@as_of_option("The day balances are read as of (default today).")
@json_option()
@click.pass_obj
def tasks_command(settings: Settings, due: date | None, kinds: tuple[str, ...], as_of: date | None,
                  as_json: bool) -> None:
    """The team's open tasks: calls the workflow asks for, e-mails that could not go. Record a
    call with `relance case call CASE --outcome ...`."""
    from rich.table import Table

    from engine.cases.tasks import list_tasks

    from engine.cases.workflows import state_names

    app = settings.app
    labels = state_names(app)  # each case's state as the version it runs on names it
    with app.session() as session:
        lines = list_tasks(session, today_or(as_of), due=due, kinds=kinds, labels=labels.label)
    if as_json:
        click.echo(json_text([
            {"id": t.id, "kind": t.kind, "case": t.case_ref, "state": t.state, "state_label": t.state_label,
             "due": t.due_on.isoformat(),
             "debtor_ref": t.debtor_ref, "debtor": t.debtor_name, "phone": t.phone, "email": t.email,
             "balance": str(t.balance), "currency": t.currency, "detail": t.detail, "history": list(t.history)}
            for t in lines], indent=2))
        return
    table = Table(title=f"{len(lines)} open task(s)")
    for column in ("due", "task", "case", "debtor", "phone", "balance", "history"):
        table.add_column(column, justify="right" if column == "balance" else "left",
                         no_wrap=column in ("balance", "due", "since", "case"))  # never split
    for t in lines:
        what = "call" if t.kind == "call" else f"e-mail failed: {t.detail}"
        table.add_row(t.due_on.isoformat(), cell(what), cell(t.case_ref), cell(f"{t.debtor_name} ({t.debtor_ref})"),
                      cell(t.phone or "—"), format_amount(t.balance, t.currency), cell("\n".join(t.history)))
    console.print(table)


@case_group.command("call")
@click.argument("case_ref", metavar="CASE")
@click.option("--outcome", type=click.Choice(CALL_OUTCOMES), required=True,
              help="reached, no_answer (the task moves to tomorrow), promise (needs --until), dispute, wrong_number.")
@click.option("--note", help="What was said, in a sentence: it goes in the timeline.")
@click.option("--until", type=DateParam(), help="With --outcome promise: the date the debtor promised to pay by.")
@as_of_option("The day of the call (default today).")
@click.option("--by", help="Who called (default: your user name).")
@json_option()
@click.pass_obj
def call_command(settings: Settings, case_ref: str, outcome: str, note: str | None, until: date | None,
                 as_of: date | None, by: str | None, as_json: bool) -> None:
    """Record a phone call on CASE and its outcome; closes its call task. A promise or a dispute
    pauses the case as `case promise` / `case dispute` would."""
    if outcome == "promise" and until is None:
        raise click.UsageError("--outcome promise needs --until DATE")
    if outcome != "promise" and until is not None:
        raise click.UsageError("--until goes with --outcome promise only")
    from engine.cases.desk import WritingDesk
    from engine.cases.tasks import record_call

    actor = by or settings.workspace.actor
    done = record_call(WritingDesk(settings.app), case_ref, outcome, happened_on(as_of), by=actor, note=note,
                       until=until)
    _outcome(done, as_json, f"{done.case_ref}: call ({outcome}) recorded by {actor}")


@click.command("approvals")
@as_of_option("The day balances are read as of (default today).")
@json_option()
@click.pass_obj
def approvals_command(settings: Settings, as_of: date | None, as_json: bool) -> None:
    """Cases waiting for a person's approval before entering a state marked `approval: required`
    (in the French policies: the formal notice and the hand-off to litigation)."""
    from rich.table import Table

    from engine.cases.approvals import waiting_approvals

    app = settings.app
    with app.session() as session:
        waiting = waiting_approvals(session, today_or(as_of))
    if as_json:
        click.echo(json_text([
            {"case": w.case_ref, "debtor_ref": w.debtor_ref, "debtor": w.debtor_name, "state": w.state, "to": w.to,
             "since": w.since.isoformat(), "balance": str(w.balance), "currency": w.currency, "manual": w.manual}
            for w in waiting], indent=2))
        return
    table = Table(title=f"{len(waiting)} case(s) waiting for approval")
    for column in ("case", "debtor", "from", "to", "since", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left",
                         no_wrap=column in ("balance", "due", "since", "case"))  # never split
    for w in waiting:
        table.add_row(cell(w.case_ref), cell(f"{w.debtor_name} ({w.debtor_ref})"), cell(w.state), cell(w.to),
                      w.since.isoformat(), format_amount(w.balance, w.currency))
    console.print(table)
    if waiting:
        console.print("Approve with `relance approve CASE --by NAME`, refuse with `relance reject CASE --by NAME "
                      "--reason ...`.")


@click.command("approve")
@click.argument("case_ref", metavar="CASE")
@click.option("--by", required=True, help="Who approves (kept in the timeline).")
@click.option("--note", help="Why, or any remark: it goes in the timeline.")
@as_of_option("The day of the approval (default today): the letter is dated that day.")
@json_option()
@click.pass_obj
def approve_command(settings: Settings, case_ref: str, by: str, note: str | None, as_of: date | None,
                    as_json: bool) -> None:
    """Approve the step CASE waits for: the case enters that state now and its letter is written, dated today."""
    from engine.app import rates_summary
    from engine.cases.approvals import approve
    from engine.cases.desk import WritingDesk

    app = settings.app
    done = approve(WritingDesk(app), case_ref, happened_on(as_of), by=by, note=note)
    # Its letter rests on the rates as much as a run's: the same warning (what `relance run` prints).
    _outcome(done, as_json, f"{done.case_ref}: approved by {by}", rates_summary(app.rates_used, app.rates_file))


@click.command("reject")
@click.argument("case_ref", metavar="CASE")
@click.option("--by", required=True, help="Who refuses (kept in the timeline).")
@click.option("--reason", required=True, help="Why: the case is held with this reason.")
@as_of_option("The day of the refusal (default today).")
@json_option()
@click.pass_obj
def reject_command(settings: Settings, case_ref: str, by: str, reason: str, as_of: date | None,
                   as_json: bool) -> None:
    """Refuse the step CASE waits for: the case is held with the reason (`relance case resume` lifts it)."""
    from engine.cases.approvals import reject
    from engine.cases.desk import WritingDesk

    done = reject(WritingDesk(settings.app), case_ref, happened_on(as_of), by=by, reason=reason)
    _outcome(done, as_json, f"{done.case_ref}: refused by {by}, case on hold")


@click.group("debtor")
def debtor_group() -> None:
    """Act on a debtor and all its cases. DEBTOR is its reference (debtor_ref of the import)."""


def _debtor_command(name: str, held: bool, help_text: str) -> click.Command:
    @click.pass_obj
    def command(settings: Settings, debtor_ref: str, reason: str | None, by: str | None, as_of: date | None,
                as_json: bool) -> None:
        from engine.cases.debtors import hold_debtor, resume_debtor
        from engine.cases.desk import WritingDesk

        action = hold_debtor if held else resume_debtor
        done = action(WritingDesk(settings.app), debtor_ref, happened_on(as_of), by=by or settings.workspace.actor,
                      reason=reason)
        _debtor_outcome(done, as_json)

    params: list[click.Parameter] = [
        click.Argument(["debtor_ref"], metavar="DEBTOR"),
        click.Option(["--reason"], help="Why, in a sentence: it goes in each case's timeline."),
        click.Option(["--by"], help="Who decides (default: your user name)."),
        click.Option(["--as-of", "as_of"], type=DateParam(), help="The day it applies from (default today)."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print machine-readable JSON."),
    ]
    return click.Command(name, callback=command, params=params, help=help_text)


debtor_group.add_command(_debtor_command("hold", True, "Stop every case of DEBTOR from escalating (do_not_chase); "
                                         "payments still close them. Recorded in each case's timeline."))
debtor_group.add_command(_debtor_command("resume", False, "Let the cases of DEBTOR escalate again."))


@click.command("print")
@click.option("--date", "on", type=DateParam(), help="The day whose postal letters to print (default today).")
@json_option()
@click.pass_obj
def print_command(settings: Settings, on: date | None, as_json: bool) -> None:
    """One PDF of the day's postal letters (simple and registered), in order, behind a cover sheet
    that counts them and flags the registered ones; written to output/_print/DATE.pdf. Needs
    LibreOffice (one process for the whole batch). Exits 1 when a letter could not be converted."""
    bundle = settings.app.print_day(today_or(on))
    show_print(bundle, as_json)
    if bundle.failures:
        raise SystemExit(1)


def show_print(bundle: PrintBundle, as_json: bool) -> None:
    if as_json:
        click.echo(json_text(print_json(bundle), indent=2))
        return
    if bundle.path is None and not bundle.failures:
        console.print(cell(f"no postal letter on {bundle.on.isoformat()}: nothing to print"))
        return
    console.print(cell(f"{len(bundle.letters)} letter(s), {bundle.registered} registered, {bundle.pages} page(s): "
                       f"{bundle.path or 'not written'} ({bundle.soffice_processes} LibreOffice process(es))"))
    for path, why in bundle.failures.items():
        console.print(f"[red]{markup(path)}[/]: {markup(why)}")


def print_json(bundle: PrintBundle) -> dict[str, Any]:
    return {"date": bundle.on.isoformat(), "path": str(bundle.path) if bundle.path else None,
            "letters": len(bundle.letters), "registered": bundle.registered, "pages": bundle.pages,
            "soffice_processes": bundle.soffice_processes, "failures": bundle.failures,
            "order": [{"case": letter.case_ref, "debtor_ref": letter.debtor_ref, "registered": letter.registered,
                       "path": letter.path} for letter in bundle.letters]}


def delivery_json(delivery: Delivery | None) -> dict[str, Any] | None:
    if delivery is None:
        return None
    return {"sent": len(delivery.sent), "retried": [{"case": c, "error": e} for c, e in delivery.retried],
            "failed": [{"case": c, "error": e} for c, e in delivery.failed],
            "superseded": [{"case": c, "reason": why} for c, why in delivery.superseded], "waiting": delivery.waiting,
            "configured": delivery.configured, "error": delivery.error, "pdf_processes": delivery.pdf_processes}


def print_delivery(delivery: Delivery | None) -> None:
    if delivery is None:
        return
    if not delivery.configured:
        if delivery.waiting:
            console.print(f"[yellow]{delivery.waiting} e-mail(s) wait in the outbox[/]: no \\[smtp] in relance.toml")
        return
    if delivery.error:
        console.print(f"[red]e-mails not sent[/]: {markup(delivery.error)}")
    if delivery.sent or delivery.retried or delivery.failed:
        console.print(f"e-mails: {len(delivery.sent)} sent, {len(delivery.retried)} to try again, "
                      f"{len(delivery.failed)} failed" + (" (see `relance tasks`)" if delivery.failed else ""))
    for case, why in delivery.failed:
        console.print(f"[red]e-mail of {markup(case)} failed[/]: {markup(why)}")
    for case, why in delivery.superseded:
        console.print(f"[yellow]e-mail of {markup(case)}[/] {markup(why)}")


def _outcome(done: Any, as_json: bool, text: str, rates: dict[str, Any] | None = None) -> None:
    """What an action did; with ``rates`` (engine.app.rates_summary), the rates its letters relied on."""
    if as_json:
        data = {"case": done.case_ref, "action": done.action, "on": done.on.isoformat(), "by": done.by,
                "state": done.state, "steps": [{"from": s.source, "to": s.dest} for s in done.steps]}
        if rates is not None:
            data["rates"] = rates
        click.echo(json_text(data, indent=2))
        return
    moved = f" → {done.state}" if done.steps else f" (state stays {done.state})"
    console.print(cell(text + moved))
    if rates is not None:
        print_rates(rates)


def _debtor_outcome(done: DebtorOutcome, as_json: bool) -> None:
    if as_json:
        click.echo(json_text({"debtor": done.debtor_ref, "do_not_chase": done.held, "changed": done.changed,
                              "cases": list(done.cases)}, indent=2))
        return
    if not done.changed:
        console.print(cell(f"{done.debtor_ref} already {'held' if done.held else 'chased'}: nothing to do"))
        return
    console.print(cell(f"{done.debtor_ref}: {'held' if done.held else 'resumed'}; recorded on {len(done.cases)} open "
                       f"case(s){': ' + ', '.join(done.cases) if done.cases else ''}"))


COMMANDS = [outbox_command, tasks_command, approvals_command, approve_command, reject_command, debtor_group,
            print_command]
