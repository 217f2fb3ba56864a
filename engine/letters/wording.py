"""What letters say: forbidden wording in amicable letters, mandatory mentions in every letter.

Both lists are data files a lawyer can edit (engine/data/forbidden_terms.yaml and
letter_mentions.yaml). Matching ignores case and accents, and treats every kind of space alike
(amounts print with no-break spaces).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from engine.core.limits import Limits
from engine.letters.compiled import CompiledTemplate
from engine.letters.context import build_context
from engine.letters.docxfile import open_template
from engine.letters.sample import SAMPLE_LABELS, sample_letter_data
from engine.letters.environment import TAG
from engine.letters.paragraphs import (
    PARAGRAPH,
    LetterProblem,
    paragraph_plain,
    template_paragraphs,
)

DATA = Path(__file__).resolve().parent / "data"
AMICABLE = {"reminder"}
# Letters an agency sends the debtor: they carry the CPCE R124-4 mentions ("agency" in letter_mentions.yaml).
AGENCY_LETTERS = {"reminder", "formal_notice"}


def check_wording(path: Path, kind: str, can_render: bool = True, *,
                  limits: Limits | None = None, agency: bool = False) -> list[LetterProblem]:
    """Forbidden terms (amicable letters) and missing mentions (when the template renders); with `agency`,
    the mentions of a collection agency's letters too."""
    problems: list[LetterProblem] = []
    if kind in AMICABLE:
        problems += forbidden_wording(path, limits)
    if can_render:
        problems += missing_mentions(path, kind, limits, agency=agency)
    return problems


def forbidden_wording(path: Path, limits: Limits | None = None) -> list[LetterProblem]:
    """Terms imitating a court decision, a bailiff's act, a sale or a seizure, located."""
    tpl = open_template(path, limits)
    problems = []
    for part, number, text in template_paragraphs(tpl):
        plain = normalize(TAG.sub(" ", text))
        for term, pattern in forbidden_patterns():
            if pattern.search(plain):
                problems.append(LetterProblem(
                    path.name, "forbidden-term",
                    f"{term!r} imitates a court or bailiff's act: not allowed in an amicable letter",
                    None, number, part,
                    french=f"« {term} » imite un acte de justice ou de commissaire de justice : interdit dans "
                    "une lettre amiable",
                ))
    return problems


def missing_mentions(path: Path, kind: str, limits: Limits | None = None, *, agency: bool = False) -> list[LetterProblem]:
    """Mentions the letter must carry, looked for in the letter rendered with the sample cases."""
    rules = mention_rules()
    wanted = list(rules.get("all", [])) + list(rules.get(kind, []))
    wanted += list(rules.get("templates", {}).get(path.stem, []))
    if agency and kind in AGENCY_LETTERS:
        wanted += list(rules.get("agency", []))
    compiled = CompiledTemplate(path, limits=limits)
    texts: dict[str, str] = {}
    contexts: dict[str, dict[str, Any]] = {}
    problems = []
    for rule in wanted:
        when = rule.get("when", "b2b")
        if when not in texts:
            contexts[when] = build_context(sample_letter_data(when))
            texts[when] = normalize(rendered_text(compiled.render(contexts[when])))
        if "text" in rule:
            expected = [rule["text"]]
        else:
            expected = [str(v) for v in _values(contexts[when], rule["value"]) if v is not None]
        missing = [e for e in expected if normalize(e) not in texts[when]]
        if missing:
            problems.append(LetterProblem(
                path.name, "missing-mention",
                f"the letter must show {rule['label']} (sample {when} case: "
                f"{', '.join(repr(m) for m in missing[:3])} not found)",
                french=f"le courrier doit indiquer : {rule['label']} (dossier d'exemple {SAMPLE_LABELS[when]} : "
                f"{', '.join(f'« {m} »' for m in missing[:3])} introuvable)",
            ))
    return problems


def rendered_text(docx: bytes) -> str:
    """The visible text of a rendered DOCX (body, headers, footers), one paragraph a line."""
    lines = []
    with zipfile.ZipFile(io.BytesIO(docx)) as package:
        for name in package.namelist():
            if re.fullmatch(r"word/(document|header\d*|footer\d*)\.xml", name):
                xml = package.read(name).decode("utf-8")
                lines += [paragraph_plain(p) for p in PARAGRAPH.findall(xml)]
    return "\n".join(lines)


def normalize(text: str) -> str:
    """Lower case, no accents, straight apostrophes, single spaces: for tolerant matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("\u2019", "'").replace("\u2018", "'").casefold()
    return re.sub(r"\s+", " ", bare)


@cache
def forbidden_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    terms = yaml.safe_load((DATA / "forbidden_terms.yaml").read_text(encoding="utf-8"))["terms"]
    return tuple(
        (term, re.compile(rf"(?<!\w){re.escape(normalize(term))}[sx]?(?!\w)")) for term in terms
    )


@cache
def mention_rules() -> dict[str, Any]:
    return yaml.safe_load((DATA / "letter_mentions.yaml").read_text(encoding="utf-8"))


def _values(context: dict[str, Any], path: str) -> list[Any]:
    """`invoices[].number` → every invoice's number; `deadline` → [deadline]."""
    if "[]." in path:
        items, field = path.split("[].", 1)
        return [item[field] for item in context[items]]
    value: Any = context
    for part in path.split("."):  # `court.name`: a field of a mapping
        value = value.get(part) if isinstance(value, dict) else None
    return [value]
