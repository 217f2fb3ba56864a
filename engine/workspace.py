"""A workspace: one folder with `relance.toml`, the team's own workflows and letters, and the output.

`relance init DIR` creates it from the shipped policies and letter pack, so a team edits its copies
and upgrades of relance never overwrite them.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.channels.smtp import BACKENDS, SmtpSettings
from engine.core.files import read_regular_file
from engine.core.instants import DEFAULT_ZONE, team_zone
from engine.core.countries import CountryError, parse_country
from engine.core.limits import DEFAULT_LIMITS, Limits, LimitsError, limits_from_table
from engine.letters.context import Creditor, Party
from engine.settings import PARTY_KEYS, SENDER_KEYS, TABLES, WorkspaceError, known_keys, table, text, text_list

if TYPE_CHECKING:
    from engine.core.workflow import Workflow

CONFIG_NAME = "relance.toml"
CONFIG_BYTES = 1 << 20  # a workspace's settings are a few kilobytes
DATABASE_ENV = "RELANCE_DATABASE_URL"
WORKSPACE_ENV = "RELANCE_WORKSPACE"
DEBTOR_KINDS = ("b2b", "b2c")  # the keys of [workflows]: a debtor's kind picks its workflow



def shipped(name: str) -> Path:
    """A folder of the shipped material (workflows, letters, examples): inside an installed wheel it is
    engine/shipped/NAME (setup.py copies it there); in a checkout, the top-level folder NAME itself."""
    package = Path(__file__).resolve().parent
    inside = package / "shipped" / name
    return inside if inside.is_dir() else package.parent / name


SHIPPED_WORKFLOWS = shipped("workflows")
SHIPPED_LETTERS = shipped("letters")
EXAMPLES = shipped("examples")


@dataclass(frozen=True)
class CreditorIdentity(Creditor):
    """Who is owed, as relance.toml says: the letters' sender plus the `ref` that prefixes case references."""

    ref: str = "default"


@dataclass(frozen=True)
class Workspace:
    """The settings of one workspace, with every path made absolute."""

    root: Path
    database_url: str
    creditor: CreditorIdentity
    workflows: dict[str, Path]  # debtor kind ("b2b", "b2c") → workflow file
    output_dir: Path
    letters_dir: Path | None = None
    rates_path: Path | None = None
    actor: str = field(default_factory=lambda: os.environ.get("USER") or "relance")
    # [counsel]: who the hand-off letter is addressed to; [agency]: a collection agency writing for the
    # creditor (its letters carry the CPCE R124-4 mentions). Both optional.
    counsel: Party | None = None
    agency: Creditor | None = None
    limits: Limits = DEFAULT_LIMITS  # [limits]: what a workflow or a template may cost (engine.core.limits)
    smtp: SmtpSettings | None = None  # [smtp]: how e-mails leave; None: they wait in the outbox
    timezone: str = DEFAULT_ZONE  # [team] timezone: the clock the team reads times on (engine.core.instants)

    def workflow_for(self, debtor_kind: str) -> Path:
        try:
            return self.workflows[debtor_kind]
        except KeyError:
            raise WorkspaceError(
                f"{self.root / CONFIG_NAME}: no workflow for {debtor_kind!r} debtors "
                f"(add it under [workflows])"
            ) from None

    def with_letters(self, workflow: Workflow) -> Workflow:
        """``workflow`` with the letters folder it uses in this workspace: [paths] letters, when relance.toml
        names one, wins over the workflow's own `letters:`. Everything that renders or checks a workspace's
        letters (run, approve, validate, the web app) takes the folder from here, so none looks elsewhere."""
        if self.letters_dir is None:
            return workflow
        return replace(workflow, letters_dir=self.letters_dir)


def find_workspace(start: Path | None = None) -> Path | None:
    """The workspace folder: $RELANCE_WORKSPACE, or the nearest folder up from `start` holding relance.toml."""
    if env := os.environ.get(WORKSPACE_ENV):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def load_workspace(root: Path, database_url: str | None = None) -> Workspace:
    """Read `root/relance.toml`; a `--db` URL or $RELANCE_DATABASE_URL overrides the file's."""
    config_path = root / CONFIG_NAME
    if not config_path.is_file():
        raise WorkspaceError(f"{config_path}: not found (create a workspace with `relance init {root}`)")
    try:
        # A regular file of a reasonable size only: a FIFO put there would wait for ever, /dev/zero never end.
        config = tomllib.loads(read_regular_file(config_path, CONFIG_BYTES).decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{config_path}: {exc}") from None
    except OSError as exc:  # not a regular file, too large, unreadable
        raise WorkspaceError(f"{config_path}: cannot read the settings ({exc.strerror or exc})") from None
    known_keys(config, TABLES, config_path, None)
    database = table(config, "database", config_path)
    known_keys(database, ("url",), config_path, "database")
    url = database_url or os.environ.get(DATABASE_ENV) or text(database, "url", config_path, "database")
    if not url:
        url = "sqlite:///relance.sqlite"
    kinds = table(config, "workflows", config_path)
    known_keys(kinds, DEBTOR_KINDS, config_path, "workflows")
    workflows = {kind: (root / path).resolve()
                 for kind in kinds if (path := text(kinds, kind, config_path, "workflows"))}
    if not workflows:
        raise WorkspaceError(f"{config_path}: [workflows] names no workflow (e.g. b2b = \"workflows/fr-b2b.yaml\")")
    paths = table(config, "paths", config_path)
    known_keys(paths, ("letters", "output", "rates"), config_path, "paths")
    rates, letters = text(paths, "rates", config_path, "paths"), text(paths, "letters", config_path, "paths")
    output_dir = (root / (text(paths, "output", config_path, "paths") or "output")).resolve()
    try:
        limits = limits_from_table(table(config, "limits", config_path), str(config_path))
    except LimitsError as exc:
        raise WorkspaceError(str(exc)) from None
    return Workspace(
        timezone=_timezone(table(config, "team", config_path), config_path),
        root=root,
        database_url=_absolute_sqlite(url, root),
        creditor=_creditor(table(config, "creditor", config_path), config_path),
        workflows=workflows,
        output_dir=output_dir,
        letters_dir=(root / letters).resolve() if letters else None,
        rates_path=(root / rates).resolve() if rates else None,
        counsel=_counsel(config.get("counsel"), config_path),
        agency=_agency(config.get("agency"), config_path),
        limits=limits,
        smtp=_smtp(config, config_path, root, output_dir),
    )


def init_workspace(root: Path, creditor_toml: Path | None = None, *, force: bool = False,
                   examples: bool = False) -> Path:
    """Create a workspace: relance.toml, copies of the shipped workflows and letters, an output folder;
    with ``examples``, also the example data set in examples/ to import, since an installed wheel has no
    checkout whose examples/ folder the user could point at."""
    root = root.resolve()
    config_path = root / CONFIG_NAME
    if config_path.exists() and not force:
        raise WorkspaceError(f"{config_path}: already exists (use --force to start over)")
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SHIPPED_WORKFLOWS, root / "workflows", dirs_exist_ok=True)
    shutil.copytree(
        SHIPPED_LETTERS, root / "letters", dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("*.py", "__pycache__", "~$*"),
    )
    (root / "output").mkdir(exist_ok=True)
    if examples:
        # The CSV files and their README only: creditor.toml is already relance.toml's [creditor].
        shutil.copytree(EXAMPLES, root / "examples", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("creditor.toml", "*.rejected.csv", "__pycache__"))
    creditor = (creditor_toml or EXAMPLES / "creditor.toml").read_text(encoding="utf-8")
    config_path.write_text(_CONFIG_TEMPLATE.format(creditor=creditor.strip()), encoding="utf-8")
    return config_path


_CONFIG_TEMPLATE = """\
# relance workspace. Paths are relative to this file.

[database]
# A SQLite file here by default. For PostgreSQL and several workers:
# url = "postgresql+psycopg://user@host:5432/relance"
url = "sqlite:///relance.sqlite"

[workflows]
# Which escalation policy applies to which kind of debtor.
b2b = "workflows/fr-b2b.yaml"
b2c = "workflows/fr-b2c.yaml"

[paths]
# The letter templates (open them in Word). Each workflow names its own folder with `letters:`;
# this setting, when present, wins, so all workflows of the workspace use the same pack.
letters = "letters/fr"
# Letters are written to output/<debtor>/<case>/<step>.docx (may be a shared mount).
output = "output"
# Your own copy of the ECB and legal rates, when you need a newer half-year than the shipped file:
# rates = "rates.csv"

# What a workflow or a letter template may cost (file sizes, states, guards, loops, render time...):
# the defaults suit real policies and letters; see workflows/README.md, "Limits", to change one.
# [limits]
# template_seconds = 10
# How e-mails leave (states with `channel: email`). Without [smtp] they wait in `relance outbox`.
# [smtp]
# host = "smtp.example.fr"
# port = 587
# starttls = true
# username = "relances@example.fr"
# password_env = "RELANCE_SMTP_PASSWORD"   # the password is read from this environment variable
# from = "Service recouvrement <relances@example.fr>"
# reply_to = "comptabilite@example.fr"
# backend = "file"                        # instead of SMTP: .eml files in output/_mail (demo, tests)
# The clock the team reads times on (next e-mail try, ...); times are stored in UTC.
# [team]
# timezone = "Europe/Paris"

{creditor}
"""


def _creditor(section: dict[str, Any], path: Path) -> CreditorIdentity:
    known_keys(section, ("ref", *SENDER_KEYS), path, "creditor")
    return CreditorIdentity(ref=text(section, "ref", path, "creditor") or "default",
                            **_sender_fields(section, path, "creditor"))


def _sender_fields(section: dict[str, Any], path: Path, name: str) -> dict[str, Any]:
    """A party that writes letters ([creditor], [agency]): address, payment, signatory, legal mentions."""
    fields = _party_fields(section, path, name)
    fields.update({key: text(section, key, path, name) or "" for key in (
        "iban", "bic", "signatory", "signatory_title", "legal_form", "share_capital", "vat_number")})
    text(section, "bank", path, name)  # the bank's name: kept beside the IBAN, printed by no letter yet
    fields["place"] = text(section, "place", path, name) or fields["city"]
    # R123-237: the registry's city and number; `rcs_city` builds it from the SIREN.
    rcs_city = text(section, "rcs_city", path, name)
    fields["rcs"] = text(section, "rcs", path, name) or (
        f"RCS {rcs_city} {fields['siren'] or ''}".strip() if rcs_city else "")
    return fields


def _party_fields(section: dict[str, Any], path: Path, name: str) -> dict[str, Any]:
    values = {key: text(section, key, path, name) for key in ("name", "postal_code", "city")}
    missing = [key for key, value in values.items() if not value]
    if missing:
        raise WorkspaceError(f"{path}: [{name}] is missing {', '.join(missing)}")
    address = text(section, "address", path, name)
    return {
        "name": values["name"],
        "address_lines": text_list(section, "address_lines", path, name) or ((address,) if address else ()),
        "postal_code": values["postal_code"],
        "city": values["city"],
        "country": _country(section, path, name),
        "siren": text(section, "siren", path, name),
        "email": text(section, "email", path, name),
        "phone": text(section, "phone", path, name),
    }


def _country(section: dict[str, Any], path: Path, name: str) -> str:
    """The party's country as its code: a letter abroad prints it, one at home does not."""
    try:
        return parse_country(text(section, "country", path, name) or "FR")
    except CountryError as exc:
        raise WorkspaceError(f"{path}: [{name}] country: {exc}") from None


def _counsel(section: Any, path: Path) -> Party | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise WorkspaceError(f"{path}: [counsel] must be a table")
    known_keys(section, PARTY_KEYS, path, "counsel")
    return Party(**_party_fields(section, path, "counsel"))


def _agency(section: Any, path: Path) -> Creditor | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise WorkspaceError(f"{path}: [agency] must be a table")
    known_keys(section, SENDER_KEYS, path, "agency")
    return Creditor(**_sender_fields(section, path, "agency"))


def _smtp(config: dict[str, Any], path: Path, root: Path, output: Path) -> SmtpSettings | None:
    """`[smtp]`: every key checked here, so a typo is one located line, not a failed send at night."""
    if "smtp" not in config:
        return None
    section = table(config, "smtp", path)
    known = {"backend", "host", "port", "username", "password_env", "starttls", "from", "reply_to", "timeout",
             "directory", "max_attempts", "retry_after", "attach"}
    for key in section:
        if key not in known:
            raise WorkspaceError(f"{path}: [smtp] unknown key {key!r} (known: {', '.join(sorted(known))})")
    backend = section.get("backend", "smtp")
    if backend not in BACKENDS:
        raise WorkspaceError(f"{path}: [smtp] backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    sender = section.get("from")
    if not isinstance(sender, str) or "@" not in sender:
        raise WorkspaceError(f"{path}: [smtp] from must be the sender's address, e.g. from = \"relances@example.fr\"")
    for key, kind in (("port", int), ("max_attempts", int), ("starttls", bool), ("timeout", (int, float)),
                      ("retry_after", (int, float))):
        value = section.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            raise WorkspaceError(f"{path}: [smtp] {key} must be {_WORDS[key]}, not {value!r}")
    for key in ("host", "username", "password_env", "reply_to", "directory"):
        if key in section and not isinstance(section[key], str):
            raise WorkspaceError(f"{path}: [smtp] {key} must be a string, not {section[key]!r}")
    directory = section.get("directory")
    attach = section.get("attach")
    if attach is not None and (not isinstance(attach, list) or not attach
                               or not all(a in ("pdf", "docx") for a in attach)):
        raise WorkspaceError(f"{path}: [smtp] attach must be a list of \"pdf\" and \"docx\", not {attach!r}")
    return SmtpSettings(
        sender=sender, backend=backend, host=section.get("host", "localhost"), port=section.get("port", 25),
        username=section.get("username"), password_env=section.get("password_env"),
        starttls=section.get("starttls", False), reply_to=section.get("reply_to"),
        timeout=float(section.get("timeout", 30)),
        directory=(root / directory).resolve() if directory else output / "_mail",
        max_attempts=section.get("max_attempts", 8), retry_after=float(section.get("retry_after", 300)),
        attach=tuple(dict.fromkeys(attach)) if attach else None,
    )


_WORDS = {"port": "an integer", "max_attempts": "an integer", "starttls": "true or false",
          "timeout": "a number of seconds", "retry_after": "a number of seconds"}


def _timezone(section: dict[str, Any], path: Path) -> str:
    """`[team] timezone`: checked now, so a typo is one located line rather than a wrong hour on every page."""
    known_keys(section, ("timezone",), path, "team")
    name = text(section, "timezone", path, "team") or DEFAULT_ZONE
    try:
        team_zone(name)
    except ValueError as exc:
        raise WorkspaceError(f"{path}: [team] timezone: {exc}") from None
    return name


def _absolute_sqlite(url: str, root: Path) -> str:
    """A relative SQLite path in relance.toml means relative to the workspace, not to the shell's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((root / url[len(prefix):]).resolve())
    return url
