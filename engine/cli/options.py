"""What every command shares: the settings (workspace and database, loaded on demand), `--as-of`,
`--json`, and the date type. Command modules import this; nothing here imports a command module.

Only click is imported at start-up: the workspace, the store and the date parser load when a command
reads them, so `relance --help` stays fast."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from engine.core.limits import Limits

    from engine.app import App
    from engine.workspace import Workspace


@dataclass
class Settings:
    """What every command may need, loaded only when a command asks for it."""

    db: str | None
    workspace_dir: Path | None
    _workspace: Workspace | None = field(default=None, repr=False)
    _app: App | None = field(default=None, repr=False)

    @property
    def workspace(self) -> Workspace:
        from engine.workspace import WorkspaceError, find_workspace, load_workspace

        if self._workspace is None:
            root = self.workspace_dir or find_workspace()
            if root is None:
                raise WorkspaceError(
                    "no workspace here: run `relance init DIR` (or `relance demo`), "
                    "then run commands inside DIR or pass --workspace DIR"
                )
            self._workspace = load_workspace(root, self.db)
        return self._workspace

    @property
    def app(self) -> App:
        """The workspace at work, on its database at the current schema (see ``App.open``)."""
        if self._app is None:
            from engine.app import App

            self._app = App.open(self.workspace)
        return self._app

    @property
    def workspace_if_any(self) -> Workspace | None:
        """The workspace when there is one, else None: validate and letters check also run outside any
        workspace, and inside one must check what the run would use (its [limits], its letters folder)."""
        from engine.workspace import find_workspace

        if self._workspace is None and self.workspace_dir is None and find_workspace() is None:
            return None
        return self.workspace

    @property
    def limits(self) -> Limits:
        """The workspace's [limits] when there is a workspace, else the defaults."""
        from engine.core.limits import DEFAULT_LIMITS

        workspace = self.workspace_if_any
        return DEFAULT_LIMITS if workspace is None else workspace.limits

    def use_workspace(self, root: Path) -> Workspace:
        """Load the workspace at ``root`` (just created by `relance init`) with this command's --db."""
        from engine.workspace import load_workspace

        self._workspace = load_workspace(root, self.db)
        return self._workspace


def as_of_option(help_text: str = "The day to act as of (YYYY-MM-DD); default today.") -> Callable[..., Any]:
    """`--as-of`: time is an argument everywhere it matters, so a run can be simulated or replayed."""
    return click.option("--as-of", "as_of", type=DateParam(), default=None, help=help_text)


def json_option() -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


class DateParam(click.ParamType):
    """A calendar date, read by the one date parser (engine.core.money): YYYY-MM-DD or dd/mm/yyyy."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        from engine.core.money import MoneyError, parse_date

        if isinstance(value, date):
            return value
        try:
            return parse_date(str(value))
        except MoneyError as exc:
            self.fail(str(exc), param, ctx)


class CurrencyParam(click.ParamType):
    """An ISO 4217 code, read by the one currency parser (engine.core.money): ``usd`` → ``USD``."""

    name = "currency"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from engine.core.money import MoneyError, parse_currency

        try:
            return parse_currency(str(value))
        except MoneyError as exc:
            self.fail(str(exc), param, ctx)


def print_failures(out: Any, errors: list[dict[str, str]]) -> None:
    """The cases a run or a worker's pass could not move: one line each (their text escaped, it may come
    from a workflow or a template), then where to find them again."""
    from engine.reports.terminal import markup

    for error in errors:
        out.print(f"[red]case {markup(error['case'])}[/] not moved: {markup(error['error'])}")
    if errors:
        out.print(f"[red]{len(errors)} case(s) failed[/] and were left as they were; "
                  "`relance case list --errors` lists them")


def today_or(as_of: date | None) -> date:
    """The shell is where `today` is read; the core only ever receives a date."""
    return as_of or date.today()


def happened_on(as_of: date | None) -> date:
    """The day of something a person records (a payment, a call, a dispute, an approval): ``--as-of`` or
    today, never after today — the web app's rule (engine.core.calendar.happened_by), said in one line.
    Runs and reports may look ahead; what happened cannot."""
    from engine.core.calendar import happened_by

    return happened_by(today_or(as_of), date.today())


@contextmanager
def settled_heap() -> Iterator[None]:
    """For a run's duration, what is already in memory (modules, workflows, the store) is frozen out of the
    garbage collector's sight and the young generation is collected every 10,000 allocations, not 700.

    A run makes millions of short-lived objects (rows, events, letter contexts) over that long-lived heap,
    and each older collection walked all of it again: 0.55 s of an 8 s run of 2,000 letters, 0.13 s after.
    Forked renderers and workers also share the frozen pages instead of copying them. Undone on leaving.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
