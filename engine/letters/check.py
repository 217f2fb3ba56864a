"""`relance letters check`: find what is wrong in letter and e-mail templates before a batch goes out.

Each problem names the template, the tag and the paragraph: Jinja syntax errors, variables the
letter context does not provide, tags Word split in a way docxtpl cannot repair, a trial render
with the sample case (the sandbox refuses unsafe tags here), wording that imitates a court or a
bailiff in amicable letters, and the mentions each kind of letter must carry (wording.py).

A run asks the same question through `require_sound_template`: checked once per template version in a
process, so a run pays the check before its first case and nothing per letter, and not at all when the
same template passed the same checks in an earlier process (engine.letters.verdicts).
"""

from __future__ import annotations

import os

import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from jinja2 import meta, nodes
from lxml import etree

from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.letters.compiled import CompiledTemplate, _as_lines
from engine.letters.context import build_context
from engine.letters.docxfile import open_template
from engine.letters.email import EMAIL_FOLDER, render_email_part
from engine.letters.paths import maybe_unset_problems
from engine.letters.sample import SAMPLE_LABELS, sample_letter_data
from engine.letters.environment import (
    TAG,
    LetterError,
    iter_tags,
    letter_error,
    make_environment,
    paragraph_text,
)
from engine.letters.paragraphs import (
    PARAGRAPH,
    LetterProblem,
    paragraph_plain,
    template_parts,
)
from engine.letters.wording import check_wording
from engine.letters.render import compiled_template
from engine.letters.verdicts import is_known_sound, remember_sound
from engine.letters.versions import file_stat

KINDS = {"relance": "reminder", "mise_en_demeure": "formal_notice",
         "transmission_contentieux": "litigation"}
DELIMITER = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")


def template_kind(path: str | Path) -> str | None:
    """reminder | formal_notice | litigation from the file name, None when it says nothing."""
    stem = Path(path).stem
    for prefix, kind in KINDS.items():
        if stem.startswith(prefix):
            return kind
    return None


def check_folder(folder: str | Path, templates: Iterable[str] | None = None, *,
                 limits: Limits | None = None, agency: bool = False) -> list[LetterProblem]:
    """Check every .docx of `folder` and the e-mail templates of its email/ folder (or only the named .docx
    `templates`) and list all problems; with `agency`, also the CPCE R124-4 mentions the letters of a
    collection agency must carry."""
    root = Path(folder)
    if templates is None:
        # Word leaves "~$name.docx" lock files next to open documents: not templates.
        names = sorted(p.name for p in root.glob("*.docx") if not p.name.startswith("~$"))
    else:
        names = list(templates)
    problems: list[LetterProblem] = []
    for name in names:
        path = root / name
        if not path.exists():
            problems.append(LetterProblem(name, "missing", f"template not found in {root}",
                                          french=f"modèle introuvable dans le dossier des modèles ({root.name})"))
            continue
        problems.extend(check_template(path, template_kind(path), limits=limits, agency=agency))
    if templates is None:
        problems.extend(check_email_templates(root, limits=limits))
    return problems


def check_email_templates(letters_dir: str | Path, names: Iterable[str] | None = None, *,
                          limits: Limits | None = None) -> list[LetterProblem]:
    """The e-mail templates of ``letters_dir``/email (or only those ``names``), each rendered with the sample
    case of each debtor kind, as a run renders it: Jinja syntax, unknown variables, the sandbox and its
    limits, and a text template's first line (the subject) not empty. One problem a file at most."""
    folder = Path(letters_dir) / EMAIL_FOLDER
    files = (sorted(p for p in folder.glob("*") if p.suffix in (".txt", ".html")) if names is None
             else [folder / name for name in names])
    contexts = [build_context(sample_letter_data(kind)) for kind in ("b2b", "b2c")]
    problems: list[LetterProblem] = []
    for path in files:
        shown = f"{EMAIL_FOLDER}/{path.name}"
        try:
            for context in contexts:
                text = render_email_part(path, context, limits)
                if path.suffix == ".txt" and not text.lstrip().partition("\n")[0].strip():
                    raise LetterError(str(path), None, "the first line (the subject) is empty",
                                      french="la première ligne (l'objet) est vide")
        except LetterError as err:
            line = err.template[len(str(path)):]  # ":N" when the error has a line
            problems.append(LetterProblem(shown + line, "email", err.message, err.tag, french=err.french))
        except OSError as exc:
            problems.append(LetterProblem(shown, "missing", f"cannot read the e-mail template ({exc.strerror})",
                                          french=f"le modèle de courriel ne peut pas être lu ({exc.strerror})"))
    return problems


def require_sound_email_templates(letters_dir: Path, names: Sequence[str]) -> None:
    """Raise EmailTemplateRefused when `relance letters check` would report errors in these e-mail templates."""
    problems = check_email_templates(letters_dir, names)
    if problems:
        raise EmailTemplateRefused(letters_dir / EMAIL_FOLDER, problems)


def check_template(path: str | Path, kind: str | None = None, *,
                   limits: Limits | None = None, agency: bool = False) -> list[LetterProblem]:
    """All problems of one template; `kind` defaults to what the file name says. The file is opened
    and rendered within `limits` (engine.core.limits), as a run would."""

    path = Path(path)
    name = path.name
    kind = kind or template_kind(path)
    try:
        tpl = open_template(path, limits)
    except LetterError as err:  # not a zip, a zip bomb, not a Word document
        return [LetterProblem(name, "unreadable", err.message, french=err.french)]
    env = make_environment(limits)
    known = set(build_context(sample_letter_data()).keys())
    problems: list[LetterProblem] = []
    structure_ok = True
    for part_name, raw in template_parts(tpl):
        found = _check_part(name, part_name, raw, tpl, env, known)
        # A template that cannot render is not rendered again to look for mentions: one report.
        blocking = ("syntax", "broken-xml", "unknown-variable")
        structure_ok = structure_ok and not any(p.code in blocking for p in found)
        problems.extend(found)
    renders = False
    if structure_ok:
        render_problems = _check_render(path, limits)
        problems.extend(render_problems)
        renders = not render_problems
    if kind is not None:
        problems.extend(check_wording(path, kind, renders, limits=limits, agency=agency))
    return problems


class TemplateRefused(LetterError):
    """A template with errors (what `relance letters check` reports): no letter is written from it, since
    a letter rendered from it may stop at the broken tag and go out without its closing and signature."""

    def __init__(self, path: Path, problems: Sequence[LetterProblem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        where = str(path) + (f" ({first.part})" if first.part and first.part != "document" else "")
        super().__init__(where, first.tag, f"{first.message}{more}; no letter is written from this template "
                         "until `relance letters check` passes", first.paragraph)
        self.problems = tuple(problems)


class EmailTemplateRefused(LetterError):
    """An e-mail template with errors: the run stops before it opens anything, as for a letter's template,
    rather than fail every case whose step sends that e-mail."""

    def __init__(self, folder: Path, problems: Sequence[LetterProblem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(str(folder.parent / first.template), first.tag, f"{first.message}{more}; no e-mail is "
                         "written from this template until `relance letters check` passes")
        self.problems = tuple(problems)


_checked: dict[tuple[str, int, int, str | None, str], tuple[LetterProblem, ...]] = {}
_checked_lock = threading.Lock()


def checked_template(path: str | Path, kind: str | None = None, *, limits: Limits | None = None,
                     agency: bool = False) -> tuple[LetterProblem, ...]:
    """`check_template`, once per file version (path, size, mtime), kind and checks (the workspace's
    ``limits``, the ``agency`` mentions) in this process: what `relance letters check` says of it there."""
    resolved = Path(os.path.abspath(path))  # names the file for the key; stat() tells versions apart
    try:
        stat = file_stat(resolved)
    except OSError as exc:
        return (LetterProblem(resolved.name, "missing", f"template not found: {resolved} ({exc.strerror})",
                              french=f"modèle introuvable : {resolved} ({exc.strerror})"),)
    checks = _checks(limits, agency)
    key = (str(resolved), stat.st_size, stat.st_mtime_ns, kind, checks)
    with _checked_lock:
        found = _checked.get(key)
    if found is None:
        # A template that passed before (same bytes, same code, same checks) is not checked again in a new process.
        found = () if is_known_sound(resolved, kind, checks) else tuple(
            check_template(resolved, kind, limits=limits, agency=agency))
        if not found:
            remember_sound(resolved, kind, checks)
        with _checked_lock:
            for old in [k for k in _checked if k[0] == key[0] and k[3:] == key[3:]]:
                del _checked[old]  # an edited template is checked again; its old verdict goes
            _checked[key] = found
    return found


def _checks(limits: Limits | None, agency: bool) -> str:
    """The checks a verdict holds for: '' for the defaults (the key verdicts had before limits counted)."""
    parts = [] if limits is None or limits == DEFAULT_LIMITS else [repr(limits)]
    return "|".join(parts + (["agency"] if agency else []))


def checked_verdicts() -> dict[tuple[str, int, int, str | None, str], tuple[LetterProblem, ...]]:
    """The templates this process checked, by file version and kind: for worker processes to take over."""
    with _checked_lock:
        return dict(_checked)


def remember_verdicts(verdicts: dict[tuple[str, int, int, str | None, str], tuple[LetterProblem, ...]]) -> None:
    """Take over another process's checks (the same file versions: path, size and mtime are the key)."""
    with _checked_lock:
        _checked.update(verdicts)


def require_sound_template(path: str | Path, kind: str | None = None, *, limits: Limits | None = None,
                           agency: bool = False) -> None:
    """Raise TemplateRefused when `relance letters check` would report errors in this template (within the
    workspace's ``limits``; with the R124-4 mentions when an ``agency`` writes the letters)."""
    problems = [problem for problem in checked_template(path, kind, limits=limits, agency=agency)
                if problem.severity == "error"]
    if problems:
        raise TemplateRefused(Path(path), problems)


def _check_part(name, part_name, raw, tpl, env, known) -> list[LetterProblem]:
    problems = _split_tags(name, part_name, raw)
    source = _as_lines(tpl.patch_xml(raw))
    problems += _broken_xml(name, part_name, source)
    try:
        ast = env.parse(source)
        # This compiles the part: an unknown filter (or test) is only found here, and must be a located
        # problem like any syntax error, not a TemplateAssertionError out of `letters check` or `run`.
        undeclared = meta.find_undeclared_variables(ast)
    except Exception as exc:
        err = letter_error(name, exc, source)
        return problems + [LetterProblem(name, "syntax", err.message, err.tag, err.paragraph, part_name,
                                         french=err.french)]
    # Jinja counts a variable set inside an `if` as undeclared (the test may fail): it is the template's
    # own all the same, not one missing from the letter context. Used where it is not set, the trial render
    # below still says so, at its tag.
    own = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "store"} | {m.name for m in ast.find_all(nodes.Macro)}
    problems += maybe_unset_problems(name, part_name, source, ast, known)
    for variable in sorted(undeclared - known - own):
        tag, paragraph = _locate(source, variable)
        problems.append(LetterProblem(
            name, "unknown-variable",
            f"the letter context has no variable {variable!r} (see letters/README.md)",
            tag, paragraph, part_name,
            french=f"les courriers n'ont pas de variable « {variable} » (voir letters/README.md)",
        ))
    return problems


def _split_tags(name: str, part_name: str, raw: str) -> list[LetterProblem]:
    """Tags that open in one paragraph and close in another (Word moved text across a break)."""
    problems = []
    for number, xml in enumerate(PARAGRAPH.findall(raw), start=1):
        text = paragraph_plain(xml)
        leftover = TAG.sub("", text)
        stray = DELIMITER.search(leftover)
        if stray:
            snippet = leftover[max(stray.start() - 20, 0): stray.end() + 30].strip()
            problems.append(LetterProblem(
                name, "split-tag",
                f"a tag is cut across paragraphs near {snippet!r}: retype the whole tag on one line",
                snippet, number, part_name,
                french=f"une balise est coupée entre deux paragraphes près de « {snippet} » : retapez-la "
                "entière sur une seule ligne",
            ))
    return problems


def _broken_xml(name: str, part_name: str, source: str) -> list[LetterProblem]:
    """After docxtpl's repairs, the XML must still be well formed once tags are taken out."""
    problems = []
    for tag in iter_tags(source):
        if "<" in tag:
            problems.append(LetterProblem(
                name, "broken-xml",
                "Word formatting inside this tag that docxtpl cannot remove: retype the tag",
                paragraph_text(tag)[:60], _line_of(source, source.find(tag)), part_name,
                french="une mise en forme Word dans cette balise ne peut pas être retirée : retapez la balise",
            ))
    if problems:
        return problems
    stripped = TAG.sub("", source)
    try:
        etree.fromstring(stripped.encode("utf-8"))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        text = paragraph_text(source.splitlines()[line - 1]) if 0 < line <= len(source.splitlines()) else ""
        tags = list(iter_tags(text))
        # An XML entity cannot be why: the DOCTYPE that declares one is refused where the file is opened
        # (engine.letters.docxfile), and python-docx cannot read an undeclared one.
        problems.append(LetterProblem(
            name, "broken-xml",
            "a tag was split by Word editing (revision marks, field or hyperlink) in a way "
            f"docxtpl cannot repair; retype it ({exc.msg})",
            tags[0] if tags else None, line - 1 if line > 1 else None, part_name,
            french="une balise a été coupée par une modification Word (marques de révision, champ ou lien "
            "hypertexte) d'une façon qui ne se répare pas : retapez-la",
        ))
    return problems


def _check_render(path: Path, limits: Limits | None) -> list[LetterProblem]:
    """Render with the sample cases; what fails here would fail in a batch."""
    problems: list[LetterProblem] = []
    try:
        compiled = compiled_template(path, limits)  # the run renders with this same compiled template
    except LetterError as err:
        return [LetterProblem(path.name, "syntax", err.message, err.tag, err.paragraph, french=err.french)]
    for debtor_kind in ("b2b", "b2c", "agency"):
        try:
            compiled.render(build_context(sample_letter_data(debtor_kind)))
        except LetterError as err:
            problems.append(LetterProblem(
                path.name, "render", f"{err.message} (sample {debtor_kind} case)",
                err.tag, err.paragraph,
                french=f"{err.french or 'le modèle ne peut pas être rendu'} "
                f"(dossier d'exemple {SAMPLE_LABELS[debtor_kind]})",
            ))
            return problems
    problems += _check_abroad(compiled)
    return problems


def _check_abroad(compiled: CompiledTemplate) -> list[LetterProblem]:
    """A warning when the template renders for a debtor in France but not for one abroad, where facts such as
    the French court are missing (older workspaces' copies of the hand-off print ``{{ court.name }}`` bare).

    Not an error: the run is not refused for it, since such a case fails alone and the others' letters go out."""
    try:
        compiled.render(build_context(sample_letter_data("abroad")))
    except LetterError as err:
        court = " the court is named only for a debtor in metropolitan France: write {%p if court %} … {%p endif %} " \
                "around its sentence, as the shipped letters do;" if err.tag and "court" in err.tag else ""
        court_fr = " le tribunal n'est nommé que pour un débiteur en France métropolitaine : entourez sa phrase de " \
                   "{%p if court %} … {%p endif %}, comme les courriers livrés ;" if court else ""
        return [LetterProblem(
            compiled.path.name, "render-abroad",
            f"{err.message} (sample case of a debtor in Belgium);{court} such a case's letter fails, the others go out",
            err.tag, err.paragraph, severity="warning",
            french=f"{err.french or 'le modèle ne peut pas être rendu'} (dossier d'exemple "
            f"{SAMPLE_LABELS['abroad']}) ;{court_fr} le courrier d'un tel dossier échoue, les autres partent",
        )]
    return []


def _locate(source: str, variable: str) -> tuple[str | None, int | None]:
    word = re.compile(rf"(?<![\w.]){re.escape(variable)}(?!\w)")
    for number, line in enumerate(source.splitlines(), start=1):
        for tag in iter_tags(paragraph_text(line)):
            if word.search(tag):
                return tag, number - 1 if number > 1 else None
    return None, None


def _line_of(source: str, offset: int) -> int | None:
    line = source.count("\n", 0, max(offset, 0)) + 1
    return line - 1 if line > 1 else None
