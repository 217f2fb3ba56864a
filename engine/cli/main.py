"""The `relance` command group: global options, command registration, and user mistakes as one line.

Exit codes: 0 done, 1 a user error (one line saying what to fix), 2 bad usage. Each command group
lives in its own module of this package and imports only engine.cli.options from here.

Start-up: this module and the command modules import click and little else at module level (the
store, the engine, docxtpl and rich load inside the command that needs them), so `relance --help`
and `relance --version` answer in a fraction of the time a command takes (bench/startup.py).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import click

from engine.cli import cases, channels, run, setup, web, worker
from engine.cli.options import Settings
from engine.core.text import inert
from engine.errors import RelanceError


def main() -> None:
    """Console entry point."""
    try:
        cli(prog_name="relance")
    finally:
        # At exit the interpreter would walk every object the command made and every module it imported,
        # cycle by cycle: 0.2-0.3 s after a run (measured). Frozen objects are left to the OS, which
        # reclaims the whole process at once; files and connections are already closed by then.
        gc.freeze()


class UserErrorGroup(click.Group):
    """Turns the errors a user can fix into `Error: ...` and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except RelanceError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except OSError as exc:
            # A file the user named that cannot be made or read (`-o` into a missing folder, `init` where
            # no folder can be): the system names the file and says why. Without a file it is no user's.
            if exc.filename is None:
                raise
            raise click.ClickException(_one_line(RelanceError(f"{exc.filename}: {exc.strerror or exc}"))) from None
        except Exception as exc:
            # SQLite's one writer held the file past the busy timeout in a unit of work that did not ask to
            # write first (engine.store's Store.session(write=True) says it itself): one line, not a traceback.
            if type(exc).__name__ == "OperationalError" and "database is locked" in str(exc):
                raise click.ClickException("the database is busy: another relance command (a run, an import) "
                                           "is writing to it; nothing was recorded, try again") from None
            # The database went away or gave up mid-command (a server restarted, a connection cut, a deadlock
            # PostgreSQL broke): what was not committed is rolled back, so the command can simply be run again.
            # Named by type, so `relance --help` need not import SQLAlchemy.
            if type(exc).__module__.startswith("sqlalchemy") and type(exc).__name__ in _DATABASE_FAILURES:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
                raise click.ClickException(_one_line(RelanceError(
                    f"the database failed during the command ({reason[0]}): what it had not committed was not "
                    "recorded; run it again once the database answers"))) from None
            raise


_DATABASE_FAILURES = frozenset({"OperationalError", "InterfaceError"})


def _one_line(exc: BaseException) -> str:
    """The message, its control characters made visible (it may quote a file name or a cell) but its own
    line breaks kept, each continuation line indented."""
    text = inert(str(exc).strip() or exc.__class__.__name__, keep="\n")
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


for _module in (setup, run, cases, channels, worker, web):
    for _command in _module.COMMANDS:
        cli.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
