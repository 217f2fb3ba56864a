"""Opening a .docx template without trusting it: sizes and compression checked before anything inflates.

A .docx is a ZIP package. python-docx reads every part into memory, and zipfile inflates a part in
one go, up to 2 GB at a time: a 1 MB "zip bomb" saved as a .docx took 2.2 GB. Here the file's
size, its number of parts, each part's declared size and compression ratio are checked against
engine.core.limits first, from the ZIP directory alone; then every part is inflated in small
chunks to prove it holds exactly what the directory declares (a directory can lie), and only
then does python-docx get the bytes. Whatever is wrong is a LetterError naming the template; a path that is
no regular file (a FIFO, /dev/zero behind a symlink) is refused before it is opened, and so is an XML part
with a DOCTYPE (Word never writes one; its entities would read a file of this computer, or vanish from
the letter). `relance letters check` and the run both open templates here, so both refuse the same files
with the same message.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docxtpl import DocxTemplate

from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.letters.environment import LetterError
from engine.core.files import FileTooLarge, read_regular_file

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # ZIP local file header (30 bytes)
_LOCAL_SIGNATURE = 0x04034B50
_CHUNK = 1 << 16
_RATIO_FROM = 1_000_000  # small parts may compress very well (styles, repeated runs): ratio not checked
# "<!DOCTYPE" as it reads in a part in UTF-8 (or any encoding that writes ASCII as ASCII), else in UTF-16 or
# UTF-32: XML allows them all, and a part is searched as bytes, without trusting what its declaration says.
_DOCTYPE_ASCII = (b"<!DOCTYPE",)
_DOCTYPE_WIDE = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"))
_OVERLAP = max(len(needle) for needle in _DOCTYPE_WIDE) - 1


def open_template(path: str | Path, limits: Limits | None = None) -> DocxTemplate:
    """The DocxTemplate of a checked .docx file; LetterError when the file is not a sound Word document."""
    path = Path(path)
    data = read_docx(path, limits)
    tpl = DocxTemplate(io.BytesIO(data))
    try:
        tpl.init_docx()
    except Exception as exc:  # python-docx's many ways to say "not a Word document"
        raise LetterError(path.name, None, f"cannot open as a Word document: {exc}",
                          french="le fichier ne s'ouvre pas comme un document Word : enregistrez-le depuis Word "
                          "au format .docx") from None
    _adopt_core_properties(tpl)
    return tpl


def _adopt_core_properties(tpl: DocxTemplate) -> None:
    """Relate the document's properties under the type python-docx looks for.

    A .docx LibreOffice writes from an .odt relates docProps/core.xml as ``officedocument/…/metadata/
    core-properties`` (lower-case d; ISO strict spells it another way again). python-docx does not find the part
    under that type, so docxtpl's render adds a second /docProps/core.xml: every letter then held two parts of
    one name, a package Word reports as damaged. The part is the same; only its relationship's type is renamed."""
    rels = tpl.docx.part.package.rels
    if any(rel.reltype == RT.CORE_PROPERTIES for rel in rels.values()):
        return
    for rel in rels.values():
        if rel.reltype.endswith("/metadata/core-properties") and not rel.is_external:
            rel._reltype = RT.CORE_PROPERTIES  # python-docx has no setter; the rels are written from this field
            return


def read_docx(path: str | Path, limits: Limits | None = None) -> bytes:
    """The bytes of a .docx file whose ZIP package is within `limits` and intact."""
    limits = limits or DEFAULT_LIMITS
    path = Path(path)
    try:
        # Only a regular file, and never past the limit: /dev/zero says it holds 0 bytes, a FIFO blocks.
        data = read_regular_file(path, limits.docx_bytes)
    except FileTooLarge as exc:
        raise LetterError(path.name, None, f"{exc.more_than('a letter template needs')} "
                                           f"({limits.describe('docx_bytes')})",
                          french=f"le fichier dépasse la taille d'un modèle de courrier "
                          f"({limits.describe('docx_bytes', french=True)})") from None
    except OSError as exc:
        raise LetterError(path.name, None, f"cannot read the template: {exc.strerror or exc}",
                          french=f"le modèle ne peut pas être lu ({exc.strerror or exc})") from None
    check_package(path.name, data, limits)
    return data


def check_package(name: str, data: bytes, limits: Limits) -> None:
    """Refuse a package beyond `limits` or damaged, from its directory first, then part by part."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise LetterError(name, None, f"not a Word document: the file is not a ZIP package ({exc}); "
                                      "save it from Word as .docx",
                          french="ce n'est pas un document Word (.docx) : enregistrez-le depuis Word au format "
                          ".docx") from None
    with archive:
        parts = archive.infolist()
        if len(parts) > limits.docx_members:
            raise LetterError(name, None, f"the package holds {len(parts):,} files "
                                          f"({limits.describe('docx_members')})",
                              french=f"le document contient {len(parts)} fichiers "
                              f"({limits.describe('docx_members', french=True)})")
        total = 0
        for part in parts:
            total += part.file_size
            _check_declared(name, part, total, limits)
        for part in parts:
            _check_inflates_as_declared(name, part, data)


def _check_declared(name: str, part: zipfile.ZipInfo, total: int, limits: Limits) -> None:
    where = f"part {part.filename}"
    if part.flag_bits & 0x1:
        raise LetterError(name, None, f"{where} is encrypted: remove the password in Word",
                          french="le document est chiffré : retirez le mot de passe dans Word")
    if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise LetterError(name, None, f"{where} uses a compression Word does not write "
                                      f"(method {part.compress_type})",
                          french="le document est compressé d'une façon que Word n'emploie pas : "
                          "enregistrez-le depuis Word")
    if part.file_size > limits.docx_part_bytes:
        raise LetterError(name, None, f"{where} is {part.file_size:,} bytes once uncompressed "
                                      f"({limits.describe('docx_part_bytes')}); a zip bomb?",
                          french=f"la partie {part.filename} fait {part.file_size} octets une fois décompressée "
                          f"({limits.describe('docx_part_bytes', french=True)})")
    if total > limits.docx_total_bytes:
        raise LetterError(name, None, f"the parts add up to more than {limits.docx_total_bytes:,} bytes "
                                      f"once uncompressed ({limits.describe('docx_total_bytes')})",
                          french=f"le document dépasse {limits.docx_total_bytes} octets une fois décompressé "
                          f"({limits.describe('docx_total_bytes', french=True)})")
    ratio = part.file_size / max(part.compress_size, 1)
    if part.file_size > _RATIO_FROM and ratio > limits.docx_ratio:
        raise LetterError(name, None, f"{where} is compressed {ratio:,.0f} to 1 "
                                      f"({limits.describe('docx_ratio')}); a zip bomb?",
                          french=f"la partie {part.filename} est compressée {ratio:.0f} fois "
                          f"({limits.describe('docx_ratio', french=True)})")


def _check_inflates_as_declared(name: str, part: zipfile.ZipInfo, data: bytes) -> None:
    """Inflate `part` by chunks, never past its declared size, and compare size and CRC with the directory."""
    damaged = LetterError(name, None, f"part {part.filename} is damaged (it does not hold what the ZIP "
                                      "directory says); save the file again from Word",
                          french=f"la partie {part.filename} est abîmée : enregistrez de nouveau le fichier depuis "
                          "Word")
    offset = part.header_offset
    header = data[offset: offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or _LOCAL_HEADER.unpack(header)[0] != _LOCAL_SIGNATURE:
        raise damaged
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[9:11]
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    compressed = data[start: start + part.compress_size]
    if len(compressed) != part.compress_size:
        raise damaged
    xml = part.filename.lower().endswith((".xml", ".rels"))
    if part.compress_type == zipfile.ZIP_STORED:
        produced, crc = len(compressed), zlib.crc32(compressed)
        doctype = xml and _holds_doctype(compressed, _doctype_needles(compressed))
    else:
        produced, crc, doctype = _inflate(compressed, part.file_size, damaged, xml)
    if produced != part.file_size or crc & 0xFFFFFFFF != part.CRC:
        raise damaged
    if doctype:
        # A DOCTYPE can declare entities: python-docx never resolves them, so their text would go missing from
        # the letter, and a SYSTEM one names a file of this computer. Word never writes one: another program did.
        raise LetterError(name, None, f"part {part.filename} holds a DOCTYPE, which Word never writes (another "
                                      "program added it, maybe to declare XML entities); save the document "
                                      "again from Word",
                          french=f"la partie {part.filename} contient un DOCTYPE, que Word n'écrit jamais (un autre "
                          "programme l'a ajouté) : enregistrez de nouveau le document depuis Word")


def _doctype_needles(head: bytes) -> tuple[bytes, ...]:
    """What "<!DOCTYPE" looks like in a part that begins with ``head``: a part in UTF-16 or UTF-32 begins with
    a byte order mark or a NUL byte in its first four (XML's own way to tell), one in UTF-8 never does. Only
    the one form is then searched: each search of an 850 KB letter costs about 0.1 to 0.4 ms."""
    wide = head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4]
    return _DOCTYPE_WIDE if wide else _DOCTYPE_ASCII


def _holds_doctype(xml: bytes, needles: tuple[bytes, ...]) -> bool:
    """Whether "<!DOCTYPE" stands in ``xml``: in a well-formed part, only in its prolog, or in a comment or
    CDATA, which Word never writes either."""
    return any(needle in xml for needle in needles)


def _inflate(compressed: bytes, declared: int, damaged: LetterError, xml: bool) -> tuple[int, int, bool]:
    """(size, CRC-32, whether an ``xml`` part holds a DOCTYPE) of a raw deflate stream, inflated at most one
    chunk past `declared` bytes: the one inflate that proves the part also looks into it."""
    inflater = zlib.decompressobj(-15)
    produced = crc = 0
    doctype = False
    needles: tuple[bytes, ...] | None = None  # known from the first chunk
    tail = b""  # the end of the previous chunk: a DOCTYPE may straddle two
    pending = compressed
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            produced += len(chunk)
            if produced > declared:
                raise damaged
            crc = zlib.crc32(chunk, crc)
            if xml and not doctype and chunk:
                needles = needles or _doctype_needles(chunk)
                doctype = _holds_doctype(tail + chunk if tail else chunk, needles)
                tail = chunk[-_OVERLAP:]
            if not chunk and not pending:
                break
    except zlib.error:
        raise damaged from None
    if not inflater.eof:
        raise damaged
    return produced, crc, doctype
