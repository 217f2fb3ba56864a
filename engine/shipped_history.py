"""Which of a workspace's workflows and letters are an earlier release's shipped copy, left as it was.

`relance init` copies the shipped workflows and letters into the workspace, and an upgrade of relance never
overwrites them (they are the team's). So after an upgrade a workspace keeps, say, version 2 of
fr-b2b.yaml while this release ships version 3 with a fix. A copy the team edited is theirs to merge; a copy
nobody touched is only out of date, and its SHA-256 says so: shipped_history.txt lists the digest of every
version of every shipped file that ever was in a release. `relance db upgrade` and `relance letters check`
name those copies and the file to take instead.

`python -m engine.shipped_history` (in a checkout, with git) rewrites the list from the repository's history;
a test fails while a shipped file's current digest is missing from it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HISTORY = Path(__file__).resolve().parent / "shipped_history.txt"
# The shipped material a workspace copies (engine.workspace.init_workspace), by its path in a checkout.
COPIED = ("workflows", "letters")
SUFFIXES = (".yaml", ".yml", ".docx", ".html", ".txt")


@dataclass(frozen=True)
class OutdatedCopy:
    """A workspace file that is an earlier shipped version, and the current shipped file to take instead."""

    copy: Path
    shipped: Path

    def advice(self, root: Path) -> str:
        name = self.copy.relative_to(root)
        return (f"{name}: an earlier release's shipped copy, not edited since; this release ships a newer one. "
                f"Compare and take it: cp {self.shipped} {name}"
                + (" (a workflow's cases under way keep the version they started on)"
                   if self.copy.suffix in (".yaml", ".yml") else ""))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def known_digests(history: Path | None = None) -> dict[str, set[str]]:
    """Relative path ("workflows/fr-b2b.yaml") → the digests of every version it was shipped in."""
    known: dict[str, set[str]] = {}
    for line in (history or HISTORY).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            sha, name = line.split(maxsplit=1)
            known.setdefault(name, set()).add(sha)
    return known


def outdated_copies(root: Path, history: Path | None = None) -> list[OutdatedCopy]:
    """The files of workspace ``root`` that an earlier release shipped and nobody edited, whose shipped
    counterpart has changed since."""
    from engine.workspace import shipped

    known = known_digests(history)
    found = []
    for name in sorted(known):
        copy, current = root / name, shipped(name.split("/", 1)[0]) / name.split("/", 1)[1]
        if not copy.is_file() or not current.is_file():
            continue
        mine = digest(copy)
        if mine in known[name] and mine != digest(current):
            found.append(OutdatedCopy(copy, current))
    return found


def _git_history(repo: Path) -> list[str]:
    """Every version of every shipped file in the repository's history, as "sha256 path" lines."""
    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout

    lines = set()
    for top in COPIED:
        names = {n for n in git("log", "--format=", "--name-only", "--", top).decode().split()
                 if n.endswith(SUFFIXES) and "/" in n}
        for name in names:
            for commit in git("log", "--format=%H", "--", name).decode().split():
                try:
                    blob = git("show", f"{commit}:{name}")
                except subprocess.CalledProcessError:
                    continue  # the commit that deleted it
                lines.add(f"{hashlib.sha256(blob).hexdigest()} {name}")
    return sorted(lines, key=lambda line: (line.split()[1], line))


if __name__ == "__main__":
    checkout = Path(__file__).resolve().parent.parent
    HISTORY.write_text("# sha256 path: every shipped version of the workflows and letters a workspace copies "
                       "(python -m engine.shipped_history)\n" + "\n".join(_git_history(checkout)) + "\n",
                       encoding="utf-8")
    sys.exit(0)
