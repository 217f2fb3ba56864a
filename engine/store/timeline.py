"""Each case's timeline: append-only events chained by SHA-256, and the check that finds tampering.

An event's hash is ``sha256(prev_hash + canonical_json(body))`` where the body holds the case id,
seq, kind, occurred_on, recorded_at, actor, step_key and payload. Canonical JSON sorts keys and
writes Decimals as strings and dates in ISO form, so the hash recomputes identically from the
database on any backend. Rows are never updated or deleted through the ORM (a session guard
raises); anything done behind its back with raw SQL is what ``verify`` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Delete, Update, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from engine.store.events import EventPayload, LetterSent, read_event
from engine.store.models import Case, Document, Event


# Where ``preloaded`` keeps the timelines of the batch in hand (session.info).
_PRELOADED = "relance.timelines"
# Where ``sealed_later`` keeps the events appended but not hashed yet, in order (session.info).
_UNSEALED = "relance.unsealed"


class AppendOnlyError(Exception):
    """Someone tried to change or remove a timeline event or a document record."""


@dataclass(frozen=True)
class TamperFinding:
    """One thing ``verify`` found wrong: which case, which event (seq) or document, and what."""

    case_ref: str
    seq: int | None
    problem: str
    document_path: str | None = None

    def __str__(self) -> str:
        where = f"case {self.case_ref}"
        if self.seq is not None:
            where += f" event #{self.seq}"
        if self.document_path:
            where += f" document {self.document_path}"
        return f"{where}: {self.problem}"


def append_event(
    session: Session,
    case: Case,
    event: EventPayload,
    occurred_on: date,
    actor: str | None = None,
    *,
    step_key: str | None = None,
    recorded_at: datetime | None = None,
) -> Event:
    """Add ``event`` as the next line of ``case``'s timeline, hashed and chained to the previous one.

    ``case`` must be flushed (have an id). The tail of the chain is read from the case row, so
    appending costs no query; the unique (case_id, seq) key rejects a concurrent append.
    """
    if case.id is None:
        session.flush()
    stamp = (recorded_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    row = Event(
        case_id=case.id,
        seq=(case.event_count or 0) + 1,
        kind=event.kind,
        occurred_on=occurred_on,
        recorded_at=stamp,
        payload=plain(event.to_json()),
        actor=actor,
        step_key=step_key,
        prev_hash=case.last_hash,
    )
    case.event_count = row.seq
    unsealed = session.info.get(_UNSEALED)
    if unsealed is None:
        row.hash = event_hash(row)
        case.last_hash = row.hash
    else:
        row.prev_hash = None
        unsealed.append((case, row))  # hashed by `seal`, in this order, once its payload is final
    session.add(row)
    held = session.info.get(_PRELOADED)
    if held is not None and case.id in held:
        held[case.id].append(row)
    return row


def first_events(case_id: int, events: Iterable[tuple[EventPayload, date]], *,
                 recorded_at: datetime | None = None) -> list[dict[str, Any]]:
    """The rows (column → value) of a new case's first events, in order, seq from 1, chained and hashed
    exactly as ``append_event`` would have: for writing many new cases' timelines in one statement (a run
    opening cases). The case row then records the count and the last row's ``hash``."""
    stamp = (recorded_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    rows: list[dict[str, Any]] = []
    prev_hash: str | None = None
    for seq, (payload, occurred_on) in enumerate(events, start=1):
        row = {"case_id": case_id, "seq": seq, "kind": payload.kind, "occurred_on": occurred_on,
               "recorded_at": stamp, "payload": plain(payload.to_json()), "actor": None, "step_key": None,
               "prev_hash": prev_hash}
        row["hash"] = prev_hash = _chain_hash(prev_hash, row)
        rows.append(row)
    return rows


def events_of(session: Session, case: Case) -> list[Event]:
    """The case's events in order (from the batch in hand when ``preloaded`` read them: no query, no flush)."""
    held = session.info.get(_PRELOADED)
    if held is not None and case.id in held:
        return list(held[case.id])
    return list(session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq)))


@contextmanager
def preloaded(session: Session, case_ids: Iterable[int]) -> Iterator[None]:
    """Read the timelines of ``case_ids`` in one query and keep them, with what ``append_event`` adds, for
    ``events_of`` until the block ends: a run's batch reads each case's timeline for its letters."""
    held: dict[int, list[Event]] = {case_id: [] for case_id in case_ids}
    if held:
        query = select(Event).where(Event.case_id.in_(list(held))).order_by(Event.case_id, Event.seq)
        for row in session.scalars(query):
            held[row.case_id].append(row)
    session.info[_PRELOADED] = held
    try:
        yield
    finally:
        session.info.pop(_PRELOADED, None)


@contextmanager
def sealed_later(session: Session) -> Iterator[None]:
    """Events appended in the block are chained and hashed by ``seal``, not as they are appended, so a
    payload may be completed in between (a letter's SHA-256, once a renderer process wrote the file).
    Nothing may flush them before ``seal``: the run's whole-batch attempt works without autoflush."""
    session.info[_UNSEALED] = []
    try:
        yield
    finally:
        session.info.pop(_UNSEALED, None)


def seal(session: Session, *, until: Callable[[Event], bool] | None = None) -> int:
    """Chain and hash the events appended since ``sealed_later`` began (or the last seal), in the order they
    were appended; how many. With ``until``, only those before the first event it is true of (a payload not
    complete yet): that one and the rest wait for the next seal."""
    unsealed = session.info.get(_UNSEALED) or []
    count = 0
    for case, row in unsealed:
        if until is not None and until(row):
            break
        row.prev_hash = case.last_hash
        row.hash = event_hash(row)
        case.last_hash = row.hash
        count += 1
    session.info[_UNSEALED] = unsealed[count:]
    return count


def forget(session: Session, case_id: int) -> None:
    """The case's attempt rolled back: what was kept of its timeline may hold events that no longer exist."""
    held = session.info.get(_PRELOADED)
    if held is not None:
        held.pop(case_id, None)


def event_hash(row: Event) -> str:
    """The SHA-256 (hex) of an event chained with its predecessor's hash."""
    return _chain_hash(row.prev_hash, {name: getattr(row, name) for name in _HASHED})


# The columns an event's hash covers, besides the previous hash (see the module's docstring).
_HASHED = ("case_id", "seq", "kind", "occurred_on", "recorded_at", "actor", "step_key", "payload")


def _chain_hash(prev_hash: str | None, columns: Mapping[str, Any]) -> str:
    body = {name: columns[name] for name in _HASHED}
    body["recorded_at"] = body["recorded_at"].isoformat(timespec="microseconds")
    digest = hashlib.sha256()
    digest.update((prev_hash or "").encode("ascii"))
    digest.update(canonical_json(body).encode("utf-8"))
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, Decimals as strings, dates ISO: the same text on every machine."""
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plain(value: Any) -> Any:
    """``value`` with Decimals, dates, sets and tuples turned into JSON types (what we store)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most of a payload: first, and cheap
        return value
    if kind is dict or isinstance(value, Mapping):  # dict first: an ABC check costs more
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(item) for item in value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float):
        # Floats do not round-trip identically everywhere; money never is one anyway.
        return repr(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(session: Session, documents_root: Path | str | None = None) -> list[TamperFinding]:
    """Recompute every case's chain and every document's hash; report what does not match.

    Streams events case by case in (case_id, seq) order. Finds edited events (hash mismatch),
    broken links (prev_hash), gaps or removed tail events (seq versus the case's event count),
    and documents whose file changed, disappeared, or whose record disagrees with its letter event.
    """
    findings: list[TamperFinding] = []
    cases = {row.id: row for row in session.execute(
        select(Case.id, Case.ref, Case.event_count, Case.last_hash)
    )}
    seen: dict[int, tuple[int, str | None]] = {}
    letter_hashes: dict[tuple[int, int], str | None] = {}
    for ev in _stream_events(session):
        case = cases.get(ev.case_id)
        ref = case.ref if case else f"#{ev.case_id}"
        last_seq, last_hash = seen.get(ev.case_id, (0, None))
        if ev.seq != last_seq + 1:
            findings.append(TamperFinding(ref, ev.seq, f"sequence jumps from #{last_seq} to #{ev.seq}: events removed"))
        if ev.prev_hash != last_hash:
            findings.append(TamperFinding(ref, ev.seq, "link to the previous event is broken (prev_hash differs)"))
        if event_hash(ev) != ev.hash:
            findings.append(TamperFinding(ref, ev.seq, "content altered: its hash no longer matches"))
        if ev.kind == LetterSent.kind:
            letter = read_event(ev.kind, ev.payload)
            letter_hashes[(ev.case_id, ev.id)] = letter.sha256 if isinstance(letter, LetterSent) else None
        seen[ev.case_id] = (ev.seq, ev.hash)
        session.expunge(ev)
    for case in cases.values():
        last_seq, last_hash = seen.get(case.id, (0, None))
        if last_seq != (case.event_count or 0) or last_hash != case.last_hash:
            findings.append(TamperFinding(
                case.ref, None,
                f"the case records {case.event_count} events ending in {str(case.last_hash)[:12]}, "
                f"the timeline has {last_seq} ending in {str(last_hash)[:12]}: events removed or added",
            ))
    findings.extend(_verify_documents(session, cases, letter_hashes, documents_root))
    return findings


def _stream_events(session: Session) -> Iterator[Event]:
    query = select(Event).order_by(Event.case_id, Event.seq).execution_options(yield_per=1000)
    yield from session.scalars(query)


def _verify_documents(
    session: Session,
    cases: Mapping[int, Any],
    letter_hashes: Mapping[tuple[int, int], str | None],
    documents_root: Path | str | None,
) -> list[TamperFinding]:
    findings = []
    root = Path(documents_root) if documents_root is not None else None
    for doc in session.scalars(select(Document).order_by(Document.id).execution_options(yield_per=1000)):
        ref = cases[doc.case_id].ref if doc.case_id in cases else f"#{doc.case_id}"
        path = Path(doc.path)
        if not path.is_absolute() and root is not None:
            path = root / path
        seq = session.scalar(select(Event.seq).where(Event.id == doc.event_id)) if doc.event_id else None
        if doc.event_id is not None and letter_hashes.get((doc.case_id, doc.event_id)) != doc.sha256:
            findings.append(TamperFinding(ref, seq, "document record's SHA-256 differs from its letter event", doc.path))
        if not path.is_file():
            findings.append(TamperFinding(ref, seq, "file is missing", doc.path))
        elif file_sha256(path) != doc.sha256:
            findings.append(TamperFinding(ref, seq, "file changed since it was produced (SHA-256 differs)", doc.path))
    return findings


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Events and document records are written once: the ORM may insert them, never alter them."""
    for obj in session.deleted:
        if isinstance(obj, (Event, Document)):
            raise AppendOnlyError(f"{type(obj).__name__} rows are append-only: cannot delete {obj.id}")
    for obj in session.dirty:
        if isinstance(obj, Event) and session.is_modified(obj):
            raise AppendOnlyError(f"event #{obj.seq} of case {obj.case_id} is append-only: cannot update")
        if isinstance(obj, Document) and _document_changed(session, obj):
            raise AppendOnlyError(f"document {obj.path} is append-only: cannot update")


def _document_changed(session: Session, doc: Document) -> bool:
    """True if any column changed, except linking the document to its letter event once."""
    from sqlalchemy import inspect as sa_inspect

    for attr in sa_inspect(doc).attrs:
        history = attr.history
        if not history.has_changes():
            continue
        if attr.key == "event_id" and all(old is None for old in history.deleted):
            continue
        return True
    return False


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    """Bulk ``update(Event)`` / ``delete(Event)`` through the ORM are refused too."""
    statement = state.statement
    if isinstance(statement, (Update, Delete)) and state.is_orm_statement:
        table = getattr(statement, "table", None)
        if table is not None and table.name in (Event.__tablename__, Document.__tablename__):
            raise AppendOnlyError(f"{table.name} rows are append-only: bulk update/delete refused")
