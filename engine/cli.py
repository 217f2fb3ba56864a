"""The `relance` command: the team's entry point to workspaces, imports, runs and timelines.

Exit codes: 0 done, 1 a user error (one line saying what to fix), 2 bad usage.
Commands live in small modules (`cli_*`); this one holds the group, the shared options and
the translation of user mistakes into one-line messages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import click

from engine.workspace import Workspace, WorkspaceError, find_workspace, load_workspace


def main() -> None:
    """Console entry point."""
    cli(prog_name="relance")


@dataclass
class Settings:
    """What every command may need, loaded only when a command asks for it."""

    db: str | None
    workspace_dir: Path | None
    _workspace: Workspace | None = field(default=None, repr=False)
    _store: Any = field(default=None, repr=False)

    @property
    def workspace(self) -> Workspace:
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
    def store(self) -> Any:
        """The workspace's database, at the current schema: a new, empty one is created at head;
        an older one must be upgraded on purpose (`relance db upgrade`), so it is refused here."""
        if self._store is None:
            store = _connect(self.workspace.database_url)
            if store.current_revision() is None:
                store.upgrade()
            else:
                store.check_schema()
            self._store = store
        return self._store

    @property
    def unchecked_store(self) -> Any:
        """The database whatever its schema: for `relance db upgrade` itself."""
        return self._store or _connect(self.workspace.database_url)


def _connect(url: str) -> Any:
    """Open the store; an in-memory SQLite URL is refused here, since it would forget every import
    the moment the command ends (a library caller may still want one)."""
    from engine.store import StoreError, connect

    if url.strip() in ("sqlite://", "sqlite:///:memory:"):
        raise StoreError(f"{url}: an in-memory database forgets everything when the command ends; "
                         "give a file, e.g. sqlite:///relance.sqlite")
    return connect(url)


class UserErrorGroup(click.Group):
    """Turns the errors a user can fix into `Error: ...` and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if _is_user_error(exc):
                raise click.ClickException(_one_line(exc)) from None
            raise


def _is_user_error(exc: BaseException) -> bool:
    from engine.errors import is_user_error

    return is_user_error(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if "\n" not in text else text.replace("\n", "\n  ")


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", metavar="URL", envvar="RELANCE_DATABASE_URL",
    help="Database URL (default: the SQLite file of the workspace). "
    "PostgreSQL: postgresql+psycopg://user@host/db.",
)
@click.option(
    "--workspace", "workspace_dir", metavar="DIR", envvar="RELANCE_WORKSPACE",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder (default: the nearest folder holding relance.toml).",
)
@click.version_option(package_name="relance")
@click.pass_context
def cli(ctx: click.Context, db: str | None, workspace_dir: Path | None) -> None:
    """relance: escalate unpaid invoices from reminder to formal notice, with Word letters
    and an auditable timeline for every case."""
    ctx.obj = Settings(db=db, workspace_dir=workspace_dir.resolve() if workspace_dir else None)


def as_of_option(help_text: str = "The day to act as of (YYYY-MM-DD); default today.") -> Callable[..., Any]:
    """`--as-of`: time is an argument everywhere it matters, so a run can be simulated or replayed."""
    return click.option("--as-of", "as_of", type=DateParam(), default=None, help=help_text)


def json_option() -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


class DateParam(click.ParamType):
    """A calendar date as YYYY-MM-DD (or dd/mm/yyyy, as French users write it)."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if "/" in text:
                day, month, year = text.split("/")
                return date(int(year), int(month), int(day))
            return date.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-22", param, ctx)


def today_or(as_of: date | None) -> date:
    """The shell is where `today` is read; the core only ever receives a date."""
    return as_of or date.today()


def _register_commands() -> None:
    from engine import cli_cases, cli_run, cli_setup, cli_worker

    for module in (cli_setup, cli_run, cli_cases, cli_worker):
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
