"""The channel commands as a user types them, on both backends: --help, --json, exit codes 0/1/2 and no
traceback on bad input (outbox, tasks, case call, approvals, approve, reject, debtor, print, import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.smtp_server import smtp_server, smtp_toml
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

from engine.core.money import format_amount

RELANCE = str(Path(sys.executable).parent / "relance")
COMMANDS = (["outbox"], ["tasks"], ["case", "call"], ["approvals"], ["approve"], ["reject"], ["debtor", "hold"],
            ["debtor", "resume"], ["print"])


class Cli:
    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url

    def __call__(self, *args: str, code: int = 0, columns: int = 200) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
        env["COLUMNS"] = str(columns)
        done = subprocess.run([RELANCE, "--db", self.url, "--workspace", str(self.root), *args], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == code, f"relance {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr
        return done.stdout + done.stderr

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    root = tmp_path / "ws"
    subprocess.run([RELANCE, "init", str(root)], check=True, capture_output=True)
    debtors, invoices = tmp_path / "debtors.csv", tmp_path / "invoices.csv"
    debtors.write_text(DEBTORS_HEADER + "D1;b2b;Dupont SARL;;1 rue A;;75001;Paris;FR;compta@dupont.example;01 02\n"
                       "D2;b2b;Martin SA;;2 rue B;;69001;Lyon;FR;refuse@martin.example;04 05\n", encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "F1;D1;2024-12-10;2025-01-10;1200.00;EUR\n"
                        "F2;D2;2024-12-10;2025-01-10;800.00;EUR\n", encoding="utf-8")
    tool = Cli(root, database_url)
    tool("import", str(debtors), str(invoices))
    return tool


def test_every_channel_command_has_help() -> None:
    for command in COMMANDS:
        done = subprocess.run([RELANCE, *command, "--help"], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "--json" in done.stdout, command


def test_the_channels_from_the_command_line(cli: Cli) -> None:
    with smtp_server() as sink:
        sink.refuse.add("refuse@martin.example")
        config = cli.root / "relance.toml"
        config.write_text(config.read_text(encoding="utf-8") + smtp_toml(sink.port), encoding="utf-8")
        run = cli.json("run", "--as-of", "2025-01-20")
        assert isinstance(run, dict) and run["emails"]["sent"] == 1 and len(run["emails"]["failed"]) == 1
        outbox = cli.json("outbox", "--all")
        assert isinstance(outbox, dict)
        assert sorted(e["status"] for e in outbox["emails"]) == ["failed", "sent"]
        cli("outbox", "--retry", "--as-of", "2025-01-20", code=1)  # still refused by the server: exit 1
    tasks = cli.json("tasks", "--due", "2025-01-20")
    assert isinstance(tasks, list)
    assert sorted((t["case"], t["kind"]) for t in tasks) == [
        ("ALD-F1", "call"), ("ALD-F2", "call"), ("ALD-F2", "email_failed")]
    assert cli.json("tasks", "--due", "2025-01-19") == []

    called = cli.json("case", "call", "ALD-F1", "--outcome", "promise", "--until", "2025-01-30",
                      "--note", "virement vendredi", "--as-of", "2025-01-21", "--by", "ana")
    assert isinstance(called, dict) and called["state"] == "promised"
    cli("case", "call", "ALD-F2", "--outcome", "reached", "--note", "adresse corrigée", "--as-of", "2025-01-21")
    assert "appel au 01 02 : promesse de paiement" in cli("timeline", "ALD-F1")

    held = cli.json("debtor", "hold", "D1", "--reason", "litige global", "--as-of", "2025-01-22")
    assert held == {"debtor": "D1", "do_not_chase": True, "changed": True, "cases": ["ALD-F1"]}
    assert "already held" in cli("debtor", "hold", "D1")
    cli.json("debtor", "resume", "D1", "--as-of", "2025-02-01")

    for day in ("2025-01-30", "2025-02-09", "2025-02-19"):  # reminders 2 and 3, then the notice is due
        cli("run", "--as-of", day, "--json")
    waiting = cli.json("approvals", "--as-of", "2025-02-19")
    assert isinstance(waiting, list) and {w["case"] for w in waiting} == {"ALD-F2"}
    assert waiting[0]["to"] == "formal_notice"
    approved = cli.json("approve", "ALD-F2", "--by", "Mme Leroy", "--note", "vu", "--as-of", "2025-02-20")
    assert isinstance(approved, dict) and approved["state"] == "formal_notice"
    bundle = cli.json("print", "--date", "2025-02-20")
    assert isinstance(bundle, dict) and (bundle["letters"], bundle["registered"]) == (1, 1)
    assert bundle["soffice_processes"] == 1 and Path(bundle["path"]).is_file()
    assert "validation" in cli("timeline", "ALD-F2")
    cli("reject", "ALD-F2", "--by", "x", "--reason", "y", code=1)  # it waits for nothing now


def test_bad_input_is_one_line_and_the_right_exit_code(cli: Cli) -> None:
    assert "NOPE" in cli("approve", "NOPE", "--by", "x", code=1)
    cli("approve", "ALD-F1", code=2)  # --by is required
    cli("reject", "ALD-F1", "--by", "x", code=2)  # --reason is required
    cli("tasks", "--due", "32/13/2025", code=2)
    cli("case", "call", "ALD-F1", "--outcome", "shouting", code=2)
    cli("case", "call", "ALD-F1", "--outcome", "promise", code=2)  # needs --until
    cli("debtor", "hold", "NOBODY", code=1)
    cli("outbox", "--retry", code=1)  # no [smtp]: said, and exit 1
    bad = cli.root / "events.csv"
    bad.write_text("event_date;debtor_ref;action;until;reason\n2025-01-20;D1;teleport;;x\n", encoding="utf-8")
    out = cli("import", str(bad), code=1)
    assert "events.csv:2" in out and "teleport" in out


def test_the_next_try_of_an_email_shows_on_the_teams_clock(cli: Cli) -> None:
    """The outbox keeps the next try in UTC; people read it in local time (Europe/Paris, or [team]
    timezone): `relance outbox`, its --json (with the offset) and the timeline's French sentence."""
    import re
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from tests.smtp_server import SmtpSink

    with smtp_server(SmtpSink(busy_first=2)) as sink:
        config = cli.root / "relance.toml"
        config.write_text(config.read_text(encoding="utf-8")
                          + smtp_toml(sink.port).replace("retry_after = 0", "retry_after = 36000"), encoding="utf-8")
        cli("run", "--as-of", "2025-01-20", "--json")
    emails = cli.json("outbox")
    assert isinstance(emails, dict)
    when = emails["emails"][0]["next_attempt_at"]
    at = datetime.fromisoformat(when)
    assert at.utcoffset() == ZoneInfo("Europe/Paris").utcoffset(at.replace(tzinfo=None))  # local, offset said
    paris = at.astimezone(ZoneInfo("Europe/Paris"))
    assert f"{paris:%Y-%m-%d %H:%M} {paris.tzname()}" in cli("outbox")
    assert f"nouvel essai à partir du {paris:%d/%m/%Y} à {paris.hour} h {paris:%M}" in cli("timeline", "ALD-F1")
    # A team elsewhere says so once in relance.toml.
    config.write_text(config.read_text(encoding="utf-8") + '\n[team]\ntimezone = "America/New_York"\n',
                      encoding="utf-8")
    york = at.astimezone(ZoneInfo("America/New_York"))
    assert f"{york:%Y-%m-%d %H:%M} {york.tzname()}" in cli("outbox")
    assert f"à {york.hour} h {york:%M}" in cli("timeline", "ALD-F1")
    assert at.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="minutes") not in cli("outbox")
    config.write_text(re.sub(r'timezone = ".*"', 'timezone = "Mars/Olympus"', config.read_text(encoding="utf-8")),
                      encoding="utf-8")
    out = cli("outbox", code=1)
    assert "[team] timezone: unknown time zone 'Mars/Olympus'" in out and len(out.strip().splitlines()) == 1


def test_the_queues_never_wrap_an_amount_or_a_date_on_a_narrow_terminal(cli: Cli) -> None:
    """At 60 columns the tasks queue printed a balance of "1 200,00 €" as "1" over "200,00 €"."""
    cli("run", "--as-of", "2025-01-20")
    tasks = cli("tasks", "--due", "2025-01-20", columns=60)
    assert format_amount(Decimal("1200.00")) in tasks and "2025-01-20" in tasks
    assert all(len(line) <= 60 for line in tasks.splitlines())
    assert "ALD-F1 " in tasks  # the case to type in `relance case call`
    outbox = cli("outbox", columns=60)
    addresses = "".join(line.split("│")[2].strip() for line in outbox.splitlines() if line.startswith("│"))
    assert "ALD-F1 " in outbox and "compta@dupont.example" in addresses  # folded, never cut with "…"
    for day in ("2025-01-30", "2025-02-09", "2025-02-19"):
        cli("run", "--as-of", day)
    waiting = cli("approvals", "--as-of", "2025-02-19", columns=60)
    assert format_amount(Decimal("800.00")) in waiting


def test_a_jump_that_waits_for_approval_says_so(cli: Cli) -> None:
    cli("run", "--as-of", "2025-01-20")
    said = " ".join(cli("case", "jump", "ALD-F1", "formal_notice", "--reason", "aucune réponse",
                        "--as-of", "2025-01-21").split())
    assert "(state stays reminder1); the step to formal_notice waits for approval (relance approvals)" in said
    waiting = cli.json("approvals", "--as-of", "2025-01-21")
    assert isinstance(waiting, list) and [w["case"] for w in waiting] == ["ALD-F1"]
    noted = cli("case", "note", "ALD-F2", "--reason", "rappel", "--as-of", "2025-01-21")
    assert "approval" not in noted
