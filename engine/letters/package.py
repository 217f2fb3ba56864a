"""A minimal ZIP writer for DOCX packages whose unchanged members are already deflated.

`zipfile` can only write members by compressing them again. A batch of letters shares every
part but two or three, so we deflate the shared parts once when a template is compiled and
copy those bytes into each letter. Timestamps are fixed, so the same letter gives the same file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

# 1980-01-01 00:00:00 in MS-DOS format: the file's bytes depend on its content only.
DOS_DATE = (0 << 9) | (1 << 5) | 1
DOS_TIME = 0
DEFLATED = 8
UTF8_NAMES = 0x800
VERSION = 20


@dataclass(frozen=True)
class Member:
    """One package member, deflated: its name, CRC-32, sizes and compressed bytes."""

    name: str
    crc: int
    size: int
    deflated: bytes


def deflate(name: str, content: bytes, level: int = 6) -> Member:
    """Compress one member (raw deflate stream, as ZIP stores it)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    deflated = compressor.compress(content) + compressor.flush()
    return Member(name, zlib.crc32(content) & 0xFFFFFFFF, len(content), deflated)


def write_zip(members: list[Member]) -> bytes:
    """The ZIP archive holding `members` in order (no ZIP64: letters are far below 4 GiB)."""
    chunks: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    for member in members:
        name = member.name.encode("utf-8")
        flags = 0 if name.isascii() else UTF8_NAMES
        local = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, VERSION, flags, DEFLATED, DOS_TIME, DOS_DATE,
            member.crc, len(member.deflated), member.size, len(name), 0,
        )
        chunks += [local, name, member.deflated]
        directory.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, VERSION, VERSION, flags, DEFLATED,
                DOS_TIME, DOS_DATE, member.crc, len(member.deflated), member.size,
                len(name), 0, 0, 0, 0, 0, offset,
            )
            + name
        )
        offset += len(local) + len(name) + len(member.deflated)
    central = b"".join(directory)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), offset, 0
    )
    return b"".join(chunks) + central + end
