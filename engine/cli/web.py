"""The team's web app from the command line: `relance serve`, and its users (`relance user add|list|disable`)."""

from __future__ import annotations

import socket
import sys

import click

from engine.core.roles import ROLES
from engine.cli.options import Settings, json_option

from engine.cli.output import console  # noqa: E402
from engine.reports.terminal import json_text


@click.group("user")
def user_group() -> None:
    """The people who sign in to the web app (`relance serve`) and their role: viewer (reads),
    collector (records payments, promises, disputes, holds, notes), legal (also approves and edits
    letter templates), admin (also manages users)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.pass_obj
def user_add_command(settings: Settings, name: str, role: str) -> None:
    """Add user NAME. The password is read from standard input when it is not a terminal
    (`printf '%s' "$PASSWORD" | relance user add ...`), else asked twice, hidden."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    from engine.cases import users

    user = users.add_user(settings.app, name, role, password)
    console.print(f"user {user.name} added, role {user.role}")


@user_group.command("list")
@json_option()
@click.pass_obj
def user_list_command(settings: Settings, as_json: bool) -> None:
    """List users with their role and whether they may sign in."""
    from rich.table import Table

    from engine.cases import users

    found = users.list_users(settings.app)
    if as_json:
        click.echo(json_text([{"name": u.name, "role": u.role, "active": u.active,
                               "created_at": u.created_at.isoformat()} for u in found], indent=2))
        return
    table = Table(title=f"{len(found)} user(s)")
    for column in ("name", "role", "active", "created"):
        table.add_column(column)
    for u in found:
        table.add_row(u.name, u.role, "yes" if u.active else "disabled", u.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@user_group.command("disable")
@click.argument("name")
@click.pass_obj
def user_disable_command(settings: Settings, name: str) -> None:
    """User NAME can no longer sign in (kept, since the timeline names them)."""
    from engine.cases import users

    user = users.disable_user(settings.app, name)
    console.print(f"user {user.name} disabled")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--https", "behind_https", is_flag=True, envvar="RELANCE_HTTPS",
              help="The app is reached over HTTPS (a proxy in front): session cookies are sent only over HTTPS.")
@click.pass_obj
def serve_command(settings: Settings, host: str, port: int, behind_https: bool) -> None:
    """Serve the team's web app on the workspace's database: cases, timelines, letters, report,
    workflows. Sign in with a user made by `relance user add`."""
    import uvicorn

    from engine.web.app import create_app

    app = settings.app
    from engine.cases import users

    if not users.list_users(app):
        console.print("[yellow]no user yet[/]: add one with `relance user add NAME --role admin`", style="")
    web = create_app(app, https=behind_https)
    _check_free(host, port)
    console.print(f"relance web app on http://{host}:{port}/ (workspace {settings.workspace.root})")
    uvicorn.run(web, host=host, port=port, log_level="warning", proxy_headers=behind_https)


def _check_free(host: str, port: int) -> None:
    """A taken port or an unknown address is one line and exit 1, before uvicorn starts."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                                   f"(choose another --port or --host)") from None


COMMANDS = [user_group, serve_command]
