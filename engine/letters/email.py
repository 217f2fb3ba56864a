"""The subject and body of an e-mail a step sends, from editable templates beside the letters.

`letters/fr/email/<state>.txt` (else `default.txt`): its first line is the subject, the rest the plain
text body; `<state>.html` (else `default.html`), when present, is the HTML body. They are Jinja
templates rendered with the letter's own variables (engine.letters.context) in the letters' sandbox, bounded
as letters are (engine.letters.sandbox: `{{ 'x' * 10**9 }}` is refused, not built), the text without escaping
(it is not markup) and the HTML autoescaped, so a debtor named `<b>` stays text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError

from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.letters.environment import LetterError, error_line, letter_error
from engine.letters.sandbox import LetterEnvironment, letter_budget
from engine.core.files import FileTooLarge, NotRegularFile, read_regular_file
from engine.letters.versions import file_stat, is_present

EMAIL_FOLDER = "email"
_environments: dict[tuple[Limits, bool], LetterEnvironment] = {}
_compiled: dict[tuple[str, int, int], Any] = {}


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str | None


def email_templates(letters_dir: Path, state: str) -> tuple[Path | None, Path | None]:
    """The text and HTML templates for ``state``: its own, else the folder's default; None when absent.

    Whatever is at the template's name is the template, a FIFO or a folder too: rendering it then fails (no
    regular file), as `relance letters check` reports, rather than the default silently standing in for it."""
    folder = letters_dir / EMAIL_FOLDER
    found = []
    for suffix in (".txt", ".html"):
        own, default = folder / f"{state}{suffix}", folder / f"default{suffix}"
        found.append(own if is_present(own) else default if is_present(default) else None)
    return found[0], found[1]


def email_files(letters_dir: Path, state: str) -> list[str]:
    """The names of the files an e-mail of ``state`` renders (its own, else the defaults), for the checks; a
    missing text template is named too, so the check reports it missing."""
    text, html = email_templates(letters_dir, state)
    return [path.name for path in (text, html) if path is not None] if text is not None else [f"{state}.txt"]


def render_email(letters_dir: Path, state: str, context: dict[str, Any], limits: Limits | None = None) -> EmailContent:
    """Subject, text and HTML for an e-mail of ``state``; LetterError (file, line, why) on a bad template or
    one past ``limits`` (default: DEFAULT_LIMITS), the same bounds as a letter's."""
    text_path, html_path = email_templates(letters_dir, state)
    if text_path is None:
        raise LetterError(str(letters_dir / EMAIL_FOLDER / f"{state}.txt"), None,
                          "no e-mail template for this state, and no default.txt beside it")
    limits = limits or DEFAULT_LIMITS
    with letter_budget(limits):  # one e-mail, one budget: its text and its HTML together
        text = _render(_environment(limits, html=False), text_path, context)
        subject, _, body = text.lstrip().partition("\n")
        if not subject.strip():
            raise LetterError(str(text_path), None, "the first line (the subject) is empty")
        html = _render(_environment(limits, html=True), html_path, context) if html_path is not None else None
    return EmailContent(" ".join(subject.split()), body.strip("\n") + "\n", html)


def render_email_part(path: Path, context: dict[str, Any], limits: Limits | None = None) -> str:
    """One e-mail template file rendered on its own (HTML autoescaped by its `.html` suffix), within
    ``limits``: what `relance letters check` tries; LetterError (file, line, tag, why) when it fails."""
    limits = limits or DEFAULT_LIMITS
    with letter_budget(limits):
        return _render(_environment(limits, html=path.suffix == ".html"), path, context)


def _environment(limits: Limits, *, html: bool) -> LetterEnvironment:
    """The sandbox for e-mails under ``limits``: autoescaped for HTML, verbatim for text; kept, as its
    compiled templates are."""
    environment = _environments.get((limits, html))
    if environment is None:
        environment = _environments[(limits, html)] = LetterEnvironment(
            limits, autoescape=html, undefined=StrictUndefined, keep_trailing_newline=True)
    return environment


def _render(env: LetterEnvironment, path: Path, context: dict[str, Any]) -> str:
    """``path`` rendered in ``env``, within the budget its caller holds (render_email, render_email_part)."""
    stat = file_stat(path)
    key = (f"{id(env)}:{os.path.abspath(path)}", stat.st_size, stat.st_mtime_ns)
    source: str | None = None
    try:
        template = _compiled.get(key)
        if template is None:
            source = _source(path, env.limits)
            template = _compiled[key] = env.from_string(source)
        return str(template.render(context))
    except LetterError:
        raise
    except TemplateError as exc:
        # The file, its line and the tag, as a letter's error names them (engine.letters.environment).
        if source is None:
            source = _source(path, env.limits, errors="replace")
        named = letter_error(path, exc, source)
        line = error_line(exc, source)
        raise LetterError(f"{path}:{line}" if line else str(path), named.tag, named.message) from None
    except UnicodeDecodeError as exc:
        raise LetterError(str(path), None, f"not UTF-8 text ({exc.reason})") from None


def _source(path: Path, limits: Limits, errors: str = "strict") -> str:
    """The text of an e-mail template: a regular file (a FIFO would block, /dev/zero never ends) read no
    further than ``limits.email_bytes``; LetterError otherwise, OSError when it cannot be read at all."""
    try:
        data = read_regular_file(path, limits.email_bytes)
    except FileTooLarge as exc:
        raise LetterError(str(path), None, f"{exc.more_than('an e-mail template needs')} "
                                           f"({limits.describe('email_bytes')})") from None
    except NotRegularFile as exc:
        raise LetterError(str(path), None, f"cannot read the e-mail template: {exc.strerror}") from None
    return data.decode("utf-8", errors)


__all__ = ["EMAIL_FOLDER", "EmailContent", "email_files", "email_templates", "render_email", "render_email_part"]
