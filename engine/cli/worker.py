"""`relance worker`: the long-running process that runs the workspace whenever work is due."""

from __future__ import annotations

import signal
import threading
from datetime import date, datetime
from types import FrameType
from typing import TYPE_CHECKING

import click

from engine.cli.options import Settings, as_of_option, print_failures, settled_heap
from engine.cli.output import errors_console as console
from engine.reports.terminal import json_text, markup

if TYPE_CHECKING:
    from engine.cases.run import RunReport


@click.command("worker")
@as_of_option("Run as of this day on every pass (default: today, read at each pass).")
@click.option("--once", is_flag=True, help="Do one pass and exit (for cron or a test).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between passes when idle (a pass also starts at midnight, or on NOTIFY relance "
              "with PostgreSQL).")
@click.option("--pdf", is_flag=True, help="Also write a PDF beside each letter (needs LibreOffice).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per pass.")
@click.pass_obj
def worker_command(settings: Settings, as_of: date | None, once: bool, interval: float, pdf: bool,
                   as_json: bool) -> None:
    """Run passes until stopped: open overdue cases, advance the due ones, write their letters.
    Start as many as you like against one PostgreSQL database, on as many machines: they share
    the due cases and never take the same step twice. SIGTERM or Ctrl-C stops after the case in
    hand (a second one stops at once). A case that cannot move is left as it was and reported, and
    the worker goes on; it exits 1 when its last pass left such cases. On SQLite, a pass that finds
    another run in progress waits for the next one (with --once: exit 1)."""
    app = settings.app
    stop = threading.Event()

    def ask_to_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process

    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    from engine.workers import work

    failed = [False]

    def on_pass(day: date, reports: list[RunReport]) -> None:
        failed[0] = _print_pass(day, reports, as_json)

    try:
        with settled_heap():
            passes = work(app, as_of=as_of, once=once, pdf=pdf, interval=interval, stop=stop, on_pass=on_pass,
                          on_busy=lambda day, busy: console.print(f"pass as of {day.isoformat()} skipped: "
                                                                  f"{markup(str(busy))}"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(f"worker stopped after {passes} pass(es)" + (" (asked to stop)" if stop.is_set() else ""))
    if failed[0]:
        raise SystemExit(1)


def _print_pass(day: date, reports: list[RunReport], as_json: bool) -> bool:
    """Print one pass; True when some case of it failed."""
    from engine.app import summary

    totals = summary(reports)
    if as_json:
        totals["as_of"] = day.isoformat()
        click.echo(json_text(totals))
        return bool(totals["errors"])
    stamp = datetime.now().strftime("%H:%M:%S")
    console.print(
        f"{stamp} pass as of {day.isoformat()}: {totals['cases_opened']} opened, "
        f"{totals['cases_examined']} examined, {totals['steps']} step(s), {totals['letters']} letter(s), "
        f"{totals['skipped']} held by another worker"
    )
    print_failures(console, totals["errors"])
    return bool(totals["errors"])


COMMANDS = [worker_command]
