"""`relance report --html`: one self-contained page a manager can open, print or mail.

No external assets and no JavaScript: the charts are inline SVG drawn here, the styles are inline
CSS with print rules. The page is in French, amounts through engine.core.money (Babel). Every
string that comes from data (names, refs, labels, the title) goes through ``html.escape``: debtor
names hold ``&`` and ``'``, and a hostile one must not inject markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from html import escape

from engine.core.money import format_amount, format_long_date
from engine.reports.aging import Aging
from engine.reports.funnel import Funnel, FunnelStep
from engine.reports.tables import percent, share

# French labels of the aging buckets (keys of engine.reports.aging.BUCKETS).
BUCKET_LABELS = {
    "not_due": "Non échu",
    "1_30": "1 à 30 jours",
    "31_60": "31 à 60 jours",
    "61_90": "61 à 90 jours",
    "over_90": "Plus de 90 jours",
}
# From calm to alarming: the older the debt, the warmer the colour.
BUCKET_COLOURS = {
    "not_due": "#9bbfd9",
    "1_30": "#f2d16b",
    "31_60": "#f0a04b",
    "61_90": "#e06c3c",
    "over_90": "#b8312f",
}
LADDER_COLOUR, NOW_COLOUR, PAID_COLOUR = "#c9d6e3", "#3a6ea5", "#4a9a5b"


def render_report_html(aging: Aging, funnel: Funnel, *, title: str, as_of: date) -> str:
    """The whole page as a string (UTF-8 HTML5)."""
    return PAGE.format(title=escape(title), style=STYLE, body=report_body(aging, funnel, title=title, as_of=as_of))


def report_body(aging: Aging, funnel: Funnel, *, title: str, as_of: date) -> str:
    """The page's content without its <html> frame: the web app shows it inside its own page."""
    currency = funnel.currency
    return "\n".join([
        f"<header><h1>{escape(title)}</h1><p class=\"as-of\">Situation au {escape(format_long_date(as_of))}</p></header>",
        _key_figures(aging, funnel),
        "<section class=\"chart\"><h2>Balance âgée</h2>",
        _aging_chart(aging),
        _aging_table(aging),
        "</section>",
        "<section class=\"chart\"><h2>Entonnoir de relance</h2>",
        "<p class=\"note\">Pour chaque étape : dossiers qui l'ont atteinte, dossiers qui y sont aujourd'hui, "
        "dossiers soldés dont c'était l'étape la plus haute, et paiements reçus pendant l'étape.</p>",
        _funnel_chart(funnel, currency),
        _funnel_table(funnel, currency),
        "</section>",
        _debtors_section(aging),
        _left_out(aging.other_currencies, f"Hors balance ({aging.currency} seulement)", "facture(s) impayée(s)"),
        _left_out(funnel.other_currencies, f"Hors montants recouvrés ({funnel.currency} seulement)", "paiement(s)"),
    ])


def _key_figures(aging: Aging, funnel: Funnel) -> str:
    cards = [
        ("Encours total", format_amount(aging.total.amount, aging.currency),
         f"{aging.total.invoices} factures, {aging.total.debtors} débiteurs"),
        ("Part échue", percent(aging.overdue_share), f"{format_amount(aging.overdue, aging.currency)} en retard"),
        ("Montant recouvré", format_amount(funnel.recovered, funnel.currency),
         f"pendant la relance de {funnel.cases} dossiers"),
        ("Dossiers au contentieux", str(funnel.in_litigation), "transmis à l'avocat ou au commissaire de justice"),
    ]
    if aging.credit:
        cards.append(("Trop-perçus non affectés", format_amount(aging.credit, aging.currency),
                      f"{aging.credit_debtors} débiteur(s) : à rembourser ou à imputer sur les prochaines factures"))
    return "<section class=\"figures\">" + "".join(
        f"<div class=\"figure\"><div class=\"label\">{escape(label)}</div>"
        f"<div class=\"value\">{escape(value)}</div><div class=\"detail\">{escape(detail)}</div></div>"
        for label, value, detail in cards
    ) + "</section>"


def _aging_chart(aging: Aging) -> str:
    """A 100 % stacked bar of the whole balance, then one horizontal bar per bucket."""
    width, label_w, value_w, row_h = 860, 150, 190, 34
    bar_w = width - label_w - value_w
    total = aging.total.amount
    parts = []
    x = Decimal(0)
    for bucket in aging.buckets:  # the stacked bar: the shape of the balance at a glance
        part = share(bucket.amount, total) or Decimal(0)
        w = part * width
        if w > 0:
            parts.append(f"<rect x=\"{x:.1f}\" y=\"0\" width=\"{w:.1f}\" height=\"26\" "
                         f"fill=\"{BUCKET_COLOURS[bucket.key]}\"><title>{escape(_bucket_label(bucket.key))} : "
                         f"{escape(percent(part))}</title></rect>")
            if w > 48:
                dark = bucket.key in ("61_90", "over_90")  # white on the warm reds, dark on the pale ones
                parts.append(_text(float(x + w / 2), 18, percent(part), anchor="middle",
                                   cls="on-bar light" if dark else "on-bar"))
        x += w
    top = 48
    biggest = max((b.amount for b in aging.buckets), default=Decimal(0))
    for i, bucket in enumerate(aging.buckets):
        y = top + i * row_h
        w = (bucket.amount / biggest * bar_w) if biggest > 0 else Decimal(0)
        parts.append(_text(label_w - 10, y + 18, _bucket_label(bucket.key), anchor="end"))
        parts.append(f"<rect x=\"{label_w}\" y=\"{y + 4}\" width=\"{max(w, Decimal(1)):.1f}\" height=\"20\" rx=\"2\" "
                     f"fill=\"{BUCKET_COLOURS[bucket.key]}\"/>")
        parts.append(_text(float(label_w + w + 8), y + 18,
                           f"{format_amount(bucket.amount, aging.currency)} · {bucket.invoices} fact.", cls="value"))
    height = top + len(aging.buckets) * row_h
    return _svg(width, height, parts, "Balance âgée par ancienneté du retard")


def _funnel_chart(funnel: Funnel, currency: str) -> str:
    """Centred bars, one per ladder step: width = cases reached; darker = there now; green = paid after it."""
    ladder = [s for s in funnel.steps if s.stage == "escalation"]
    width, label_w, value_w, row_h = 860, 190, 170, 40
    bar_w = width - label_w - value_w
    biggest = max((s.reached for s in ladder), default=0) or 1
    parts = []
    for i, step in enumerate(ladder):
        y = i * row_h
        w = bar_w * step.reached / biggest
        x = label_w + (bar_w - w) / 2
        now = bar_w * step.current / biggest
        paid = bar_w * step.resolved / biggest
        parts.append(_text(label_w - 10, y + 24, step.label, anchor="end"))
        parts.append(f"<rect x=\"{x:.1f}\" y=\"{y + 6}\" width=\"{max(w, 1):.1f}\" height=\"26\" fill=\"{LADDER_COLOUR}\">"
                     f"<title>{escape(step.label)} : {step.reached} dossiers</title></rect>")
        if now:
            parts.append(f"<rect x=\"{x:.1f}\" y=\"{y + 6}\" width=\"{now:.1f}\" height=\"26\" fill=\"{NOW_COLOUR}\"/>")
        if paid:
            parts.append(f"<rect x=\"{x + w - paid:.1f}\" y=\"{y + 6}\" width=\"{paid:.1f}\" height=\"26\" "
                         f"fill=\"{PAID_COLOUR}\"/>")
        parts.append(_text(label_w + bar_w / 2, y + 24, str(step.reached), anchor="middle", cls="count"))
        parts.append(_text(label_w + bar_w + 10, y + 24, format_amount(step.recovered, currency), cls="value"))
    legend_y = len(ladder) * row_h + 14
    legend = [(LADDER_COLOUR, "atteinte"), (NOW_COLOUR, "en cours"), (PAID_COLOUR, "soldés après l'étape"),
              ("none", "à droite : montant recouvré pendant l'étape")]
    lx = label_w
    for colour, label in legend:
        if colour != "none":
            parts.append(f"<rect x=\"{lx}\" y=\"{legend_y - 10}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>")
            lx += 18
        parts.append(_text(lx, legend_y, label, cls="legend"))
        lx += int(9 * len(label) // 1.4) + 24
    return _svg(width, legend_y + 10, parts, "Entonnoir de relance")


def _aging_table(aging: Aging) -> str:
    rows = [[_bucket_label(b.key), str(b.invoices), str(b.debtors), format_amount(b.amount, aging.currency),
             percent(share(b.amount, aging.total.amount))] for b in aging.buckets]
    total = aging.total
    foot = ["Total", str(total.invoices), str(total.debtors), format_amount(total.amount, aging.currency), "100,0\u00a0%"]
    return _table(["Ancienneté", "Factures", "Débiteurs", "Montant", "Part"], rows, foot, numeric_from=1)


def _funnel_table(funnel: Funnel, currency: str) -> str:
    rows = [_funnel_row(step, currency) for step in funnel.steps]
    foot = ["Total", str(funnel.cases), "", "", "", format_amount(funnel.recovered, currency)]
    return _table(["Étape", "Atteinte", "En cours", "Soldés après", "Taux", "Recouvré pendant l'étape"], rows, foot,
                  numeric_from=1)


def _funnel_row(step: FunnelStep, currency: str) -> list[str]:
    ladder = step.stage == "escalation"
    return [step.label, str(step.reached), str(step.current), str(step.resolved) if ladder else "",
            percent(step.resolution_rate) if ladder else "", format_amount(step.recovered, currency)]


def _debtors_section(aging: Aging) -> str:
    if not aging.debtors:
        return ""
    heads = ["Débiteur", "Réf.", "Fact.", *(_bucket_label(b.key) for b in aging.buckets), "Total"]
    rows = [[d.name, d.ref, str(d.invoices), *(format_amount(a, aging.currency) if a else "" for a in d.amounts),
             format_amount(d.total, aging.currency)] for d in aging.debtors]
    return (f"<section><h2>Principaux débiteurs ({len(aging.debtors)} sur {aging.total.debtors})</h2>"
            + _table(heads, rows, None, numeric_from=2) + "</section>")


def _left_out(counts: dict[str, int], outside: str, noun: str) -> str:
    """What a table in one currency leaves out, per other currency ("2 facture(s) impayée(s) en USD")."""
    if not counts:
        return ""
    listed = ", ".join(f"{n} {noun} en {code}" for code, n in sorted(counts.items()))
    return f"<p class=\"note\">{escape(outside)} : {escape(listed)}.</p>"


def _table(heads: list[str], rows: Iterable[list[str]], foot: list[str] | None, *, numeric_from: int) -> str:
    numeric = ' class="num"'

    def cells(values: list[str], tag: str) -> str:
        return "".join(f"<{tag}{numeric if i >= numeric_from else ''}>{escape(v)}</{tag}>"
                       for i, v in enumerate(values))

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    tfoot = f"<tfoot><tr>{cells(foot, 'td')}</tr></tfoot>" if foot else ""
    return f"<table><thead><tr>{cells(heads, 'th')}</tr></thead><tbody>{body}</tbody>{tfoot}</table>"


def _svg(width: int, height: float, parts: list[str], label: str) -> str:
    return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height:.0f}\" role=\"img\" "
            f"aria-label=\"{escape(label)}\">" + "".join(parts) + "</svg>")


def _text(x: float, y: float, content: str, *, anchor: str = "start", cls: str = "") -> str:
    klass = f" class=\"{cls}\"" if cls else ""
    return f"<text x=\"{x:.1f}\" y=\"{y:.1f}\" text-anchor=\"{anchor}\"{klass}>{escape(content)}</text>"


def _bucket_label(key: str) -> str:
    return BUCKET_LABELS.get(key, key)


PAGE = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
</body>
</html>
"""

STYLE = """
*{box-sizing:border-box}
body{font-family:"Helvetica Neue",Arial,"Liberation Sans",sans-serif;color:#1f2933;margin:0 auto;max-width:1000px;
padding:28px 32px;line-height:1.4;font-size:14px}
header{border-bottom:3px solid #1f3a5f;margin-bottom:20px}
h1{font-size:24px;margin:0 0 2px;color:#1f3a5f}
h2{font-size:17px;margin:28px 0 10px;color:#1f3a5f}
.as-of{margin:0 0 10px;color:#52606d}
.figures{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}
.figure{border:1px solid #d9e2ec;border-radius:6px;padding:12px 14px;background:#f5f7fa}
.figure .label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#52606d}
.figure .value{font-size:22px;font-weight:700;margin:4px 0;white-space:nowrap}
.figure .detail{font-size:12px;color:#616e7c}
svg{width:100%;height:auto;display:block;margin:8px 0 14px}
svg text{font-size:13px;fill:#1f2933}
svg text.value{font-size:12px;fill:#3e4c59}
svg text.on-bar{font-size:12px;font-weight:700;fill:#1f2933}
svg text.on-bar.light{fill:#fff}
svg text.count{font-size:12px;font-weight:700;stroke:#fff;stroke-width:3px;paint-order:stroke}
svg text.legend{font-size:12px;fill:#52606d}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;text-align:left}
th{background:#1f3a5f;color:#fff;font-weight:600}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#f5f7fa}
tfoot td{font-weight:700;border-top:2px solid #1f3a5f}
.note{color:#52606d;font-size:12px}
@media print{
body{padding:0;max-width:none;font-size:11pt}
.figure{background:none}
section{break-inside:avoid}
th{background:none;color:#1f2933;border-bottom:2px solid #1f2933}
tbody tr:nth-child(even){background:none}
@page{size:A4;margin:14mm}
}
"""

__all__ = ["STYLE", "render_report_html", "report_body"]
