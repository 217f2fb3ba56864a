"""Reading the fields of a workflow file: one method per kind of key, each recording a located Problem
and returning a usable default, so engine.core.workflow reports every mistake at once.

Also where a state's `letter:` is resolved: inside the letters folder only (`template_path`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from engine.core.calendar import MAX_DELAY, Delay, DelayError, parse_delay
from engine.core.guards import Guard, check_guard, compile_guard
from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.core.yamlsource import LocatedDict, line_of
from engine.errors import RelanceError

CHANNELS = ("letter", "email", "registered_letter", "phone", "none")
ATTACHMENTS = ("pdf", "docx")  # the formats an e-mail carries its letter in


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or dubious) in a workflow file, where it is and why."""

    severity: str  # "error" | "warning"
    file: str
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        return self._text(" warning:" if self.severity == "warning" else "")

    @property
    def located(self) -> str:
        """`file:line: key: message`, without the level: for a listing that prints it in front."""
        return self._text("")

    def _text(self, level: str) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key}{level} {self.message}"


class FieldReader:
    """Problems of one file (`file`), read within `limits`; subclassed by the workflow reader."""

    def __init__(self, file: str, limits: Limits | None = None) -> None:
        self.file = file
        self.limits = limits or DEFAULT_LIMITS
        self.problems: list[Problem] = []

    def error(self, container: Any, key: Any, path: str | None, message: str) -> None:
        self.problems.append(Problem("error", self.file, line_of(container, key), path, message))

    def warn(self, container: Any, key: Any, path: str | None, message: str) -> None:
        self.problems.append(Problem("warning", self.file, line_of(container, key), path, message))

    def unknown_keys(self, body: LocatedDict, known: Iterable[str], where: str) -> None:
        for key in body:
            if key not in known:
                path = f"{where}.{key}" if where else str(key)
                self.error(body, key, path, f"unknown key {key!r}{hint(key, known)}")

    def required(self, body: LocatedDict, key: str, kind: type, where: str = "") -> Any:
        path = f"{where}.{key}" if where else key
        if key not in body:
            self.error(body, None, path, f"missing required key {key!r}")
            return None
        return self.optional(body, key, kind, None, where)

    def optional(self, body: LocatedDict, key: str, kind: type, default: Any, where: str = "") -> Any:
        value = body.get(key, default)
        # bool is an int in Python; `version: true` is still a mistake.
        if key in body and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            path = f"{where}.{key}" if where else key
            quote = f" (quote it: '{value.isoformat()}')" if kind is str and isinstance(value, date) else ""
            self.error(body, key, path, f"{key!r} must be {_KIND_WORDS[kind]}, not {shown(value)}{quote}")
            return default
        return value

    def checked(self, body: LocatedDict, key: str, check: Callable[[str], str], default: str) -> str:
        """A top-level string (`locale`, `currency`) that `check` accepts, as `check` returns it;
        `default` when absent, or after recording why `check` refused it."""
        value = self.optional(body, key, str, None)
        if value is None:
            return default
        try:
            return check(value)
        except RelanceError as exc:
            self.error(body, key, key, str(exc))
            return default

    def choice(self, body: LocatedDict, key: str, path: str, allowed: tuple[str, ...], default: Any) -> Any:
        value = body.get(key, default)
        if key in body and value not in allowed:
            self.error(body, key, path, f"{key!r} must be one of {', '.join(allowed)}, not {shown(value)}"
                       f"{hint(value, allowed) if isinstance(value, str) else ''}")
            return default
        return value

    def channels(self, body: LocatedDict, where: str, letter: str | None) -> tuple[str, ...]:
        value = body.get("channel", "letter" if letter else "none")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(c, str) and c in CHANNELS for c in items):
            self.error(body, "channel", f"{where}.channel",
                       f"channel must be one of {', '.join(CHANNELS)} or a list of them, not {shown(value)}")
            return ()
        return tuple(c for c in items if c != "none")

    def attach(self, body: LocatedDict, where: str) -> tuple[str, ...]:
        """`attach`: the formats an e-mail of the state carries its letter in (default pdf)."""
        value = body.get("attach", ["pdf"])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(a, str) and a in ATTACHMENTS for a in items):
            self.error(body, "attach", f"{where}.attach",
                       f"attach must be one of {', '.join(ATTACHMENTS)} or a list of them, not {shown(value)}")
            return ("pdf",)
        return tuple(dict.fromkeys(items))

    def pay_within(self, body: LocatedDict, where: str) -> int | None:
        if "pay_within" not in body:
            return None
        value = body["pay_within"]
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value <= MAX_DELAY:
                return value
            # Said here: parse_delay would suggest business days and months, which pay_within refuses.
            self.error(body, "pay_within", f"{where}.pay_within", "pay_within must be 'N days', 'N weeks' or a "
                       f"number of days from 0 to {MAX_DELAY}, not {cut(str(value))[1:-1]}")
            return None
        try:
            delay = parse_delay(value, ("day", "week"))
        except DelayError as exc:
            self.error(body, "pay_within", f"{where}.pay_within", str(exc))
            return None
        if delay.unit not in ("day", "week"):
            self.error(body, "pay_within", f"{where}.pay_within", "pay_within is counted in days or weeks")
            return None
        return delay.count * (7 if delay.unit == "week" else 1)

    def delay(self, body: LocatedDict, where: str) -> Delay | None:
        if "after" not in body:
            return None
        try:
            return parse_delay(body["after"])
        except DelayError as exc:
            self.error(body, "after", f"{where}.after", str(exc))
            return None

    def letter(self, body: LocatedDict, path: str, letters_dir: Path | None, letter: str) -> None:
        """The template must be a file inside the letters folder (checked lexically even without the folder)."""
        try:
            found = template_path(letters_dir or Path("letters"), letter)
            present = letters_dir is None or found.is_file()
        except TemplatePathError as exc:
            self.error(body, "letter", path, str(exc))
            return
        except OSError as exc:  # a name the system refuses (too long...): is_file raises rather than say no
            self.error(body, "letter", path, f"letter {cut(letter)} cannot be looked up: {exc.strerror}")
            return
        if not present:
            self.error(body, "letter", path, f"letter template {letter!r} not found in {letters_dir}")

    def guard(self, body: LocatedDict, key: str, where: str) -> Guard | None:
        if key not in body:
            return None
        source = body[key]
        reasons = check_guard(source if isinstance(source, str) else "", self.limits)
        if not isinstance(source, str):
            reasons = [f"a guard must be an expression string, not {shown(source)}"]
        for reason in reasons:
            self.error(body, key, f"{where}.{key}", reason)
        if reasons:
            return None
        return compile_guard(source, limits=self.limits, where=f"{self.file}:{line_of(body, key)}: {where}.{key}")


class TemplatePathError(RelanceError, ValueError):
    """A `letter:` that is not a file inside the letters folder (absolute, `..`, a symlink leading out)."""


def template_path(letters_dir: Path, name: str) -> Path:
    """The template `name` of a state, resolved inside `letters_dir`; TemplatePathError when it would leave it.

    A workflow may come from anywhere: `letter: /etc/passwd` or `../../secret.docx` must not make
    relance open, render and write out a file the team never meant as a letter.
    """
    if "\0" in name:  # no file name holds one; the OS calls would raise ValueError, not say no
        raise TemplatePathError(f"letter {name!r} holds a NUL character: write a file name")
    relative = Path(name)
    if relative.is_absolute() or relative.drive or ".." in relative.parts:
        raise TemplatePathError(f"letter {name!r} must be a file name inside the letters folder "
                                f"(no absolute path, no '..')")
    folder = letters_dir.resolve()
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(folder):
        raise TemplatePathError(f"letter {name!r} leads outside the letters folder {folder} "
                                f"(a symbolic link to {resolved}?)")
    return resolved


def shown(value: Any) -> str:
    """A value read from YAML as a message shows it: YAML reads 2020-01-01 as a date, whose repr is
    `datetime.date(2020, 1, 1)`, a form nobody wrote."""
    if isinstance(value, date):  # datetime too
        return f"the date {value.isoformat()}"
    return repr(value)


def cut(text: str) -> str:
    """A name quoted for a message, cut short: a 5,000-character name is not worth printing."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


_KIND_WORDS = {str: "a string", int: "an integer", bool: "true or false"}


def hint(word: Any, choices: Iterable[str]) -> str:
    """The suffix ` (did you mean 'x'?)` when one of `choices` is close to `word`, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
