"""A case's timeline as text, JSON, CSV or a printable HTML page a lawyer can attach to a file.

Every format carries the chain's verification status, so a printed timeline says whether it was
intact when printed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from datetime import tzinfo
from typing import Any

from jinja2 import Environment

from engine.core.money import format_amount, format_date
from engine.core.text import inert
from engine.reports import csvsafe
from engine.reports.terminal import json_text
from engine.store import ledger
from engine.store.events import KIND_LABELS, RUN_ACTOR, CreditNoteApplied, PaymentReceived, read_event
from engine.store.models import Case, Creditor, Debtor, Event
from engine.store.timeline import canonical_json, event_hash, events_of, plain

FORMATS = ("text", "json", "csv", "html")
# Who recorded money that names no person: what the engine did with it (the payments or credit notes file
# imported, a payment's excess carried over, money applied before the case opened), no more. It once read
# « import des règlements (relevé bancaire) » for credit notes too, and for money a person typed in.
PAYMENT_ACTOR = "imputation automatique des règlements"
CREDIT_NOTE_ACTOR = "imputation automatique des avoirs"


# How every printed timeline orders its lines, said once on the page: a catch-up (a payment imported days
# late, a note that tells of an earlier call) is shown where it happened, while the chain stays checked in
# the order it was recorded, which the n° keeps.
ORDER_NOTE = ("Classement par date des faits, à date égale dans l'ordre d'enregistrement ; le n° est l'ordre "
              "d'enregistrement, celui que suit la chaîne d'empreintes.")


def in_date_order(events: list[Event]) -> list[Event]:
    """``events`` (in seq order) as a timeline prints them: by the day each occurred, stable on seq."""
    return sorted(events, key=lambda ev: (ev.occurred_on, ev.seq))


def recorded_late(events: list[Event]) -> dict[int, str]:
    """seq → the words that mark an event recorded after something that happened later than it (printed out
    of recording order): the day it was recorded, so a reader sees it was entered after the fact."""
    late, latest = {}, None
    for ev in events:  # seq order
        if latest is not None and ev.occurred_on < latest:
            late[ev.seq] = f"enregistré après coup, le {format_date(ev.recorded_at.date())}"
        latest = ev.occurred_on if latest is None else max(latest, ev.occurred_on)
    return late


@dataclass(frozen=True)
class ChainStatus:
    """Whether the case's chain recomputes: ``ok`` and, when not, the seqs that fail."""

    ok: bool
    broken: tuple[int, ...]
    last_hash: str | None

    def __str__(self) -> str:
        if self.ok:
            return f"chain intact ({self.last_hash or 'empty'})"
        return "CHAIN BROKEN at event(s) " + ", ".join(f"#{seq}" for seq in self.broken)

    def french(self) -> str:
        """The status as the printed timeline states it."""
        if self.ok:
            return f"chaîne d'empreintes SHA-256 intacte (dernière empreinte {self.last_hash or 'aucune'})"
        return "CHAÎNE D'EMPREINTES ROMPUE aux événements " + ", ".join(f"n° {seq}" for seq in self.broken)


def render_timeline(session: Any, case: Case, fmt: str = "text", state_labels: Mapping[str, str] | None = None,
                    zone: tzinfo | None = None) -> str:
    """The timeline of ``case`` in ``fmt`` (text|json|csv|html); ``state_labels`` (state → French label,
    from the case's workflow) names the case's state in the header; ``zone``: the team's clock
    (engine.core.instants) for the instants a sentence names."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown timeline format {fmt!r}; expected one of {', '.join(FORMATS)}")
    chained = events_of(session, case)
    status = chain_status(case, chained)  # verified in recording order: the chain's
    events, late = in_date_order(chained), recorded_late(chained)
    state_label = (state_labels or {}).get(case.state) or case.state
    if fmt == "json":
        return json_text({
            "case": plain(_header(session, case)),
            "order": "occurred_on, then seq (seq is the recording order, the hash chain's)",
            "events": [plain(_event_dict(ev)) for ev in events],
            "chain": {"ok": status.ok, "broken": list(status.broken), "last_hash": status.last_hash},
        }, indent=2, sort_keys=True)
    if fmt == "csv":
        out = io.StringIO()
        writer = csvsafe.writer(out, delimiter=";")  # reasons, actors and names may look like formulas
        writer.writerow(["seq", "occurred_on", "recorded_at", "kind", "actor", "summary", "payload", "hash"])
        for ev in events:
            writer.writerow([ev.seq, ev.occurred_on.isoformat(), ev.recorded_at.isoformat(), ev.kind,
                             ev.actor or "", summary(ev, case, zone), canonical_json(ev.payload), ev.hash])
        return out.getvalue()
    header = _header(session, case)
    header["state_label"] = state_label
    if fmt == "html":
        return _HTML.render(case=header, events=[(ev, summary(ev, case, zone), actor_of(ev), late.get(ev.seq))
                                                 for ev in events], status=status, order=ORDER_NOTE)
    # Printed on a terminal: every line made inert (a name or a reason must not carry ANSI/OSC escapes).
    lines = [inert(f"Dossier {header['ref']} — état : {state_label} — débiteur {header['debtor']['name']} "
                   f"({header['debtor']['ref']}) — solde {format_amount(header['balance'], header['currency'])}")]
    lines.append(ORDER_NOTE)
    lines += [inert(f"{ev.seq:>4}  {format_date(ev.occurred_on)}  {KIND_LABELS.get(ev.kind, ev.kind):<22} "
                    f"{summary(ev, case, zone)}  [par {actor_of(ev)}{'; ' + late[ev.seq] if ev.seq in late else ''}]  "
                    f"empreinte {ev.hash}") for ev in events]
    lines.append(status.french())
    return "\n".join(lines) + "\n"


def timeline_entries(session: Any, case: Case, zone: tzinfo | None = None) -> tuple[list[tuple[Event, str]], ChainStatus]:
    """Each event with its French sentence, and the chain's status: what the printable page shows,
    for a page of the web app that lays it out its own way."""
    events = events_of(session, case)
    return [(ev, summary(ev, case, zone)) for ev in in_date_order(events)], chain_status(case, events)


def chain_status(case: Case, events: list[Event]) -> ChainStatus:
    """Recompute one case's chain (see engine.store.timeline.verify for the whole store)."""
    broken, prev = [], None
    for expected, ev in enumerate(events, start=1):
        if ev.seq != expected or ev.prev_hash != prev or event_hash(ev) != ev.hash:
            broken.append(ev.seq)
        prev = ev.hash
    if (case.event_count or 0) != len(events) or case.last_hash != prev:
        broken.append(len(events) + 1)  # the tail was cut or the case row disagrees
    return ChainStatus(not broken, tuple(broken), prev)


def summary(ev: Event, case: Case | None = None, zone: tzinfo | None = None) -> str:
    """One sentence in French saying what happened (the event kind's own ``describe``, instants in the
    team's ``zone``); amounts an older event stored without their currency are in ``case``'s."""
    payload = read_event(ev.kind, ev.payload, currency=(case.currency or "EUR") if case is not None else None)
    return payload.describe_in(zone)


def actor_of(ev: Event) -> str:
    """Who did it: the person recorded, else what recorded it (the run, or the ledger's allocation of money)."""
    if ev.actor:
        return ev.actor
    if ev.kind == CreditNoteApplied.kind:
        return CREDIT_NOTE_ACTOR
    return PAYMENT_ACTOR if ev.kind == PaymentReceived.kind else RUN_ACTOR


def _event_dict(ev: Event) -> dict[str, Any]:
    return {"seq": ev.seq, "kind": ev.kind, "occurred_on": ev.occurred_on, "recorded_at": ev.recorded_at,
            "actor": ev.actor, "step_key": ev.step_key, "payload": ev.payload, "prev_hash": ev.prev_hash,
            "hash": ev.hash}


def _header(session: Any, case: Case) -> dict[str, Any]:
    creditor = session.get(Creditor, case.creditor_id)
    debtor = session.get(Debtor, case.debtor_id)
    balances = ledger.invoice_balances(session, case.id)
    invoices = [{"currency": b.invoice.currency, "number": b.invoice.number, "issue_date": b.invoice.issue_date,
                 "due_date": b.invoice.due_date, "amount": b.invoice.amount, "paid": b.paid, "open": b.open}
                for b in balances]
    totals = ledger.totals_of(balances)
    return {
        "ref": case.ref, "state": case.state, "workflow": f"{case.workflow_name} v{case.workflow_version}",
        "opened_on": case.opened_on, "closed": case.closed,
        "currency": case.currency or "EUR",
        "creditor": _party(creditor), "debtor": _party(debtor), "invoices": invoices,
        "principal": totals.principal, "paid": totals.paid, "balance": totals.balance,
    }


def _party(row: Any) -> dict[str, Any]:
    if row is None:
        return {"ref": "?", "name": "?", "address": "", "siren": None}
    address = ", ".join(part for part in (row.address_line1, row.address_line2,
                                          " ".join(p for p in (row.postal_code, row.city) if p), row.country) if part)
    return {"ref": row.ref, "name": row.name, "address": address, "siren": row.siren}


# Our own template (not a user's): a plain autoescaping environment is enough.
_ENV = Environment(autoescape=True)
_ENV.filters["money"] = lambda amount, currency="EUR": format_amount(Decimal(str(amount)), currency)
_ENV.filters["day"] = lambda on: format_date(on) if on else ""
_ENV.filters["kind"] = lambda kind: KIND_LABELS.get(kind, kind)

_HTML = _ENV.from_string("""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Chronologie du dossier {{ case.ref }}</title>
<style>
body{font:11pt/1.4 Georgia,"Times New Roman",serif;color:#111;max-width:60em;margin:2em auto;padding:0 1em}
h1{font-size:16pt;margin:0 0 .2em} h2{font-size:12pt;margin:1.4em 0 .4em;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;font-size:10pt} th,td{border:1px solid #bbb;padding:.25em .4em;
vertical-align:top;text-align:left} th{background:#eee} td.num{text-align:right;white-space:nowrap}
.parties{display:flex;gap:2em} .parties div{flex:1} .hash{font-family:monospace;font-size:7pt;color:#555;word-break:break-all}
.ok{color:#064} .bad{color:#a00;font-weight:bold}
@media print{body{margin:0;max-width:none} h2{break-after:avoid} tr{break-inside:avoid}
 thead{display:table-header-group} @page{size:A4;margin:15mm}}
</style></head><body>
<h1>Chronologie du dossier {{ case.ref }}</h1>
<p>Procédure {{ case.workflow }} — état : <strong>{{ case.state_label }}</strong> — ouvert le {{ case.opened_on|day }}</p>
<div class="parties">
 <div><h2>Créancier</h2><p>{{ case.creditor.name }}<br>{{ case.creditor.address }}
 {% if case.creditor.siren %}<br>SIREN {{ case.creditor.siren }}{% endif %}</p></div>
 <div><h2>Débiteur</h2><p>{{ case.debtor.name }} ({{ case.debtor.ref }})<br>{{ case.debtor.address }}
 {% if case.debtor.siren %}<br>SIREN {{ case.debtor.siren }}{% endif %}</p></div>
</div>
<h2>Factures</h2>
<table><thead><tr><th>Facture</th><th>Émise le</th><th>Échéance</th><th>Montant TTC</th><th>Réglé</th><th>Reste dû</th></tr></thead>
<tbody>{% for i in case.invoices %}<tr><td>{{ i.number }}</td><td>{{ i.issue_date|day }}</td><td>{{ i.due_date|day }}</td>
<td class="num">{{ i.amount|money(i.currency) }}</td><td class="num">{{ i.paid|money(i.currency) }}</td><td class="num">{{ i.open|money(i.currency) }}</td></tr>{% endfor %}
<tr><th colspan="3">Total</th><th class="num">{{ case.principal|money(case.currency) }}</th><th class="num">{{ case.paid|money(case.currency) }}</th>
<th class="num">{{ case.balance|money(case.currency) }}</th></tr></tbody></table>
<h2>Événements</h2>
<p class="order">{{ order }}</p>
<table><thead><tr><th>#</th><th>Date</th><th>Nature</th><th>Détail</th><th>Par</th><th>Empreinte SHA-256</th></tr></thead>
<tbody>{% for ev, text, actor, late in events %}<tr><td>{{ ev.seq }}</td><td class="num">{{ ev.occurred_on|day }}</td><td>{{ ev.kind|kind }}</td>
<td>{{ text }}{% if late %} <em>({{ late }})</em>{% endif %}</td><td>{{ actor }}</td><td class="hash">{{ ev.hash }}</td></tr>{% endfor %}</tbody></table>
<h2>Intégrité</h2>
{% if status.ok %}<p class="ok">Chaîne d'empreintes SHA-256 vérifiée : intacte ({{ events|length }} événements,
dernière empreinte <span class="hash">{{ status.last_hash }}</span>).</p>
{% else %}<p class="bad">Chaîne d'empreintes rompue aux événements {{ status.broken|join(", ") }} :
ce relevé ne doit pas être produit sans vérification.</p>{% endif %}
</body></html>
""")


__all__ = ["FORMATS", "KIND_LABELS", "ORDER_NOTE", "ChainStatus", "chain_status", "render_timeline", "summary", "timeline_entries"]
