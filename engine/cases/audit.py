"""`relance verify`: every hash chain, every letter's SHA-256 and every e-mail attachment's recomputed, and letter
files no case owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.cases.desk import Desk
from engine.cases.letters import orphan_files
from engine.store.sentfiles import verify_sent_files
from engine.store.timeline import TamperFinding, verify


@dataclass(frozen=True)
class Audit:
    """What verification found: altered events or letters, and files no document record refers to."""

    findings: list[TamperFinding]
    orphans: list[Path]
    removed: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def audit(desk: Desk, output_dir: Path, *, repair: bool = False) -> Audit:
    """Verify the whole store; with ``repair``, remove orphan files (what a crash between rename and commit leaves)."""
    with desk.session() as session:
        findings = verify(session, output_dir) + verify_sent_files(session, output_dir)
        orphans = orphan_files(session, output_dir)
    removed = []
    if repair:
        for path in orphans:
            path.unlink(missing_ok=True)
            removed.append(path)
    return Audit(findings, orphans, removed)


__all__ = ["Audit", "audit"]
