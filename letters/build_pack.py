"""Build the French letter pack (letters/fr/*.docx) with python-docx.

Run: python letters/build_pack.py [OUT_DIR]
The pack is generated rather than hand-made so a reviewer can read every sentence here, and so
each Jinja tag is written as one whole Word run (Word is then less likely to split it on edit).
Lawyers then edit the .docx files in Word; see letters/README.md.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

FONT = "Arial"
RIGHT_BLOCK = Mm(95)  # the recipient, date and signature blocks start here (window envelope)
TAG_OR_BOLD = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\*\*)")
COLUMNS = [  # header, cell tag, width (mm), right-aligned
    ("N° facture", "{{ inv.number }}", 31, False),
    ("Date", "{{ inv.issue_date }}", 22, False),
    ("Échéance", "{{ inv.due_date }}", 22, False),
    ("Montant TTC", "{{ inv.amount }}", 29, True),
    ("Réglé", "{{ inv.paid }}", 26, True),
    ("Reste dû", "{{ inv.outstanding }}", 30, True),
]
CLOSING = "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées."


def build_pack(out_dir: Path) -> list[Path]:
    """Write the five letters into `out_dir` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    letters = {
        "relance_1.docx": relance_1,
        "relance_2.docx": relance_2,
        "relance_3.docx": relance_3,
        "mise_en_demeure.docx": mise_en_demeure,
        "transmission_contentieux.docx": transmission_contentieux,
    }
    paths = []
    for name, body in letters.items():
        doc = new_letter(title=name.removesuffix(".docx"))
        body(doc)
        path = out_dir / name
        doc.save(str(path))
        paths.append(path)
    return paths


def relance_1(doc) -> None:
    """Courteous first reminder: maybe an oversight; copies of the invoices attached."""
    header(doc, recipient="debtor")
    subject(doc, "Relance — facture(s) arrivée(s) à échéance")
    par(doc, "Madame, Monsieur,")
    par(doc, "Sauf erreur ou omission de notre part, nous n'avons pas encore reçu le règlement "
             "des factures suivantes, arrivées à échéance :")
    invoice_table(doc)
    par(doc, "Il s'agit peut-être d'un simple oubli. Vous trouverez ci-joint une copie de ces "
             "factures pour faciliter vos vérifications.")
    deadline_and_payment(doc, "Nous vous remercions de bien vouloir nous régler la somme de "
                              "**{{ total_outstanding }}** d'ici le **{{ deadline }}**.")
    par(doc, "Si votre règlement a été effectué entre-temps, nous vous prions de ne pas tenir "
             "compte de ce courrier. Notre service comptable reste à votre disposition pour toute "
             "question{% if creditor.phone %} au {{ creditor.phone }}{% endif %}.")
    signature(doc, enclosures="Copie des factures")


def relance_2(doc) -> None:
    """Second reminder: recalls the earlier steps and asks for a planned payment date."""
    header(doc, recipient="debtor")
    subject(doc, "Deuxième relance — factures impayées")
    par(doc, "Madame, Monsieur,")
    par(doc, "Malgré nos précédentes démarches, les factures ci-dessous restent impayées à ce jour :")
    invoice_table(doc)
    history_list(doc, "Pour mémoire, nous vous avons déjà contacté :")
    deadline_and_payment(doc, "Nous vous remercions de bien vouloir nous régler la somme de "
                              "**{{ total_outstanding }}** au plus tard le **{{ deadline }}**, "
                              "ou de nous indiquer par retour la date à laquelle vous prévoyez "
                              "d'effectuer ce règlement.")
    par(doc, "Si vous rencontrez une difficulté, n'hésitez pas à nous contacter afin que nous "
             "examinions ensemble une solution adaptée.")
    signature(doc)


def relance_3(doc) -> None:
    """Third and last amicable reminder: firmer, still courteous, no threat."""
    header(doc, recipient="debtor")
    subject(doc, "Dernière relance amiable — factures impayées")
    par(doc, "Madame, Monsieur,")
    par(doc, "Nos relances précédentes sont restées sans effet et les factures suivantes "
             "demeurent impayées :")
    invoice_table(doc)
    history_list(doc, "Nos démarches précédentes :")
    par(doc, "{%p if is_b2b %}")
    par(doc, "Nous vous rappelons que tout retard de paiement entraîne de plein droit des "
             "pénalités de retard (article L441-10 du Code de commerce) et une indemnité "
             "forfaitaire pour frais de recouvrement de 40 € par facture (article D441-5 du "
             "Code de commerce).")
    par(doc, "{%p endif %}")
    deadline_and_payment(doc, "Nous vous demandons de régler la somme de "
                              "**{{ total_outstanding }}** au plus tard le **{{ deadline }}**.")
    par(doc, "Ce courrier constitue notre dernière relance amiable. Sans règlement ni réponse de "
             "votre part à cette date, nous vous adresserons une mise en demeure de payer.")
    signature(doc)


def mise_en_demeure(doc) -> None:
    """Formal notice: the words, registered letter, split amounts, deadline, what follows."""
    header(doc, recipient="debtor", registered=True)
    subject(doc, "Mise en demeure de payer")
    par(doc, "Madame, Monsieur,")
    par(doc, "Malgré nos relances, les factures suivantes restent impayées :")
    invoice_table(doc)
    history_list(doc, "Nos démarches amiables sont restées sans effet :")
    par(doc, "Le montant de notre créance s'établit comme suit :")
    amounts_breakdown(doc)
    par(doc, "En conséquence, nous vous **mettons en demeure** de nous régler la somme de "
             "**{{ total_claim }}** dans un délai de {{ pay_within_days }} jours à compter de la "
             "date du présent courrier, soit au plus tard le **{{ deadline }}**.")
    payment_details(doc)
    par(doc, "{%p if is_b2c %}")
    par(doc, "La présente mise en demeure fait courir les intérêts au taux légal sur les sommes "
             "dues (articles 1231-6 et 1344-1 du Code civil).")
    par(doc, "{%p endif %}")
    par(doc, "À défaut de règlement dans ce délai, nous saisirons la juridiction compétente "
             "d'une requête en injonction de payer ou engagerons toute action en justice utile "
             "au recouvrement de notre créance, sans autre avis.")
    signature(doc)


def transmission_contentieux(doc) -> None:
    """Hand-off to counsel: the statement of the claim and every step taken, with dates."""
    header(doc, recipient="counsel")
    subject(doc, "Transmission du dossier {{ case_ref }} — créance sur {{ debtor.name }}")
    par(doc, "Maître,")
    par(doc, "Nous vous confions le recouvrement judiciaire de la créance décrite ci-dessous, "
             "en vue d'une requête en injonction de payer (articles 1405 et suivants du Code de "
             "procédure civile) ou de toute action que vous jugerez utile.")
    par(doc, "**Débiteur**")
    par(doc, "{{ debtor.name }}{% if debtor.siren %} — SIREN {{ debtor.siren }}{% endif %} "
             "({% if is_b2b %}professionnel{% else %}particulier{% endif %})")
    par(doc, "{{ debtor.address_lines|join(', ') }}, {{ debtor.postal_code }} {{ debtor.city }}")
    par(doc, "**Factures impayées**")
    invoice_table(doc)
    par(doc, "**Décompte de la créance au {{ date_long }}**")
    amounts_breakdown(doc)
    par(doc, "**Démarches effectuées**")
    par(doc, "{%p for step in history %}")
    par(doc, "– le {{ step.date_long }} : {{ step.label }} ({{ step.channel_label }})",
        indent=Mm(5), after=0)
    par(doc, "{%p endfor %}")
    # The steps above already list the formal notice; this says what matters to the lawyer about it.
    par(doc, "{%p if formal_notice_on %}")
    par(doc, "La mise en demeure du {{ formal_notice_on }}, adressée par lettre recommandée avec "
             "accusé de réception, est restée sans effet.")
    par(doc, "{%p endif %}")
    par(doc, "Juridiction : {% if is_b2b %}tribunal de commerce (créance entre commerçants)"
             "{% else %}tribunal judiciaire{% endif %} du domicile du débiteur.")
    par(doc, "Pièces transmises : factures, bons de commande ou contrat, bons de livraison, "
             "relances, mise en demeure et son accusé de réception.")
    par(doc, "Nous restons à votre disposition pour tout complément.")
    signature(doc, closing="Nous vous prions d'agréer, Maître, l'expression de nos "
                           "salutations distinguées.")


# --- building blocks ---------------------------------------------------------------------


def new_letter(title: str):
    """An empty A4 letter: margins, Arial 10.5 pt, a footer with the sender's identity."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(22)
    section.top_margin, section.bottom_margin = Mm(15), Mm(18)
    section.footer_distance = Mm(10)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(10.5)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.1
    doc.core_properties.title = title
    doc.core_properties.author = "relance"
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _runs(footer, "{{ creditor.name }}{% if creditor.siren %} — SIREN {{ creditor.siren }}"
                  "{% endif %}{% if creditor.email %} — {{ creditor.email }}{% endif %}", size=8)
    return doc


def header(doc, recipient: str, registered: bool = False) -> None:
    """Sender block, recipient block, place and date, references."""
    par(doc, "**{{ creditor.name }}**", after=0)
    address(doc, "creditor", indent=None)
    par(doc, "{%p if creditor.phone %}")
    par(doc, "Tél. {{ creditor.phone }}", after=0)
    par(doc, "{%p endif %}")
    par(doc, "{%p if creditor.email %}")
    par(doc, "{{ creditor.email }}", after=0)
    par(doc, "{%p endif %}")
    par(doc, "", after=8)
    if recipient == "counsel":
        par(doc, "{%p if counsel %}")
        par(doc, "**{{ counsel.name }}**", indent=RIGHT_BLOCK, after=0)
        address(doc, "counsel", indent=RIGHT_BLOCK)
        par(doc, "{%p else %}")
        par(doc, "À l'attention de notre conseil", indent=RIGHT_BLOCK, after=0)
        par(doc, "{%p endif %}")
    else:
        par(doc, "**{{ debtor.name }}**", indent=RIGHT_BLOCK, after=0)
        address(doc, "debtor", indent=RIGHT_BLOCK)
    par(doc, "", after=6)
    par(doc, "{{ place_and_date }}", indent=RIGHT_BLOCK, after=12)
    if registered:
        par(doc, "**Lettre recommandée avec accusé de réception**", after=4)
    par(doc, "Vos références client : {{ debtor_ref }}", after=0, size=9)
    par(doc, "Notre dossier : {{ case_ref }} — Notre courrier : {{ letter_ref }}", size=9)


def address(doc, who: str, indent) -> None:
    """Address lines (a `{%p for %}` loop), then postal code and city."""
    par(doc, f"{{%p for line in {who}.address_lines %}}")
    par(doc, "{{ line }}", indent=indent, after=0)
    par(doc, "{%p endfor %}")
    par(doc, f"{{{{ {who}.postal_code }}}} {{{{ {who}.city }}}}", indent=indent, after=0)


def subject(doc, text: str) -> None:
    par(doc, f"**Objet : {text}**", before=6, after=12)


def invoice_table(doc) -> None:
    """Invoices with a `{%tr for %}` row loop and a totals row."""
    table = doc.add_table(rows=5, cols=len(COLUMNS))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header_row, loop_start, body_row, loop_end, totals = table.rows
    totals_text = ["**Total**", "", "", "**{{ total_amount }}**", "**{{ total_paid }}**",
                   "**{{ total_outstanding }}**"]
    for index, (title, tag, width, right) in enumerate(COLUMNS):
        for row in table.rows:
            row.cells[index].width = Mm(width)
        _cell(header_row.cells[index], f"**{title}**", right, shade="DCE6F0")
        _cell(body_row.cells[index], tag, right)
        _cell(totals.cells[index], totals_text[index], right, shade="F2F2F2")
    _cell(loop_start.cells[0], "{%tr for inv in invoices %}", False)
    _cell(loop_end.cells[0], "{%tr endfor %}", False)
    par(doc, "", after=2)


def history_list(doc, intro: str) -> None:
    """Earlier letters, calls and e-mails with their dates (a `{%p if %}` around a loop)."""
    par(doc, "{%p if has_history %}")
    par(doc, intro, after=2)
    par(doc, "{%p for step in history %}")
    par(doc, "– le {{ step.date_long }} : {{ step.label }} ({{ step.channel_label }})",
        indent=Mm(5), after=0)
    par(doc, "{%p endfor %}")
    par(doc, "", after=0)
    par(doc, "{%p endif %}")


def amounts_breakdown(doc) -> None:
    """Principal, penalties, indemnity (B2B) or interest (B2C), and the total claimed."""
    lines = [
        ("Principal restant dû", "{{ total_outstanding }}", None),
        ("Pénalités de retard (art. L441-10 du Code de commerce)", "{{ penalties }}", "is_b2b"),
        ("Indemnité forfaitaire de 40 € par facture (art. D441-5 du Code de commerce)",
         "{{ indemnity }}", "is_b2b"),
        ("Intérêts au taux légal (art. 1231-6 et 1344-1 du Code civil)", "{{ interest }}", "is_b2c"),
    ]
    for label, amount, condition in lines:
        if condition:
            par(doc, f"{{%p if {condition} %}}")
        _amount_line(doc, label, amount)
        if condition:
            par(doc, "{%p endif %}")
    _amount_line(doc, "**Total réclamé**", "**{{ total_claim }}**")
    par(doc, "{%p if has_assumed_rates %}")
    par(doc, "Hypothèses de calcul : {{ assumed_rates|join(' ; ') }}.", size=8.5)
    par(doc, "{%p endif %}")


def deadline_and_payment(doc, demand: str) -> None:
    par(doc, "{%p if deadline %}")
    par(doc, demand)
    par(doc, "{%p endif %}")
    payment_details(doc)


def payment_details(doc) -> None:
    par(doc, "Règlement par virement — IBAN : {{ creditor.iban }} — BIC : {{ creditor.bic }} — "
             "référence à rappeler : **{{ payment_reference }}**.")


def signature(doc, enclosures: str | None = None, closing: str = CLOSING) -> None:
    # Keep the closing and the signature on one page.
    par(doc, closing, before=6).paragraph_format.keep_with_next = True
    par(doc, "{{ creditor.signatory }}", indent=RIGHT_BLOCK, before=14,
        after=0).paragraph_format.keep_with_next = True
    par(doc, "{{ creditor.signatory_title }}", indent=RIGHT_BLOCK)
    if enclosures:
        par(doc, f"P.J. : {enclosures}", before=12, size=9)


def par(doc, text: str, indent=None, before: float = 0, after: float | None = None,
        size: float | None = None):
    """A paragraph whose Jinja tags are whole runs; `**x**` marks bold."""
    paragraph = doc.add_paragraph()
    fmt = paragraph.paragraph_format
    if indent is not None:
        fmt.left_indent = indent
    if before:
        fmt.space_before = Pt(before)
    if after is not None:
        fmt.space_after = Pt(after)
    _runs(paragraph, text, size=size)
    return paragraph


def _amount_line(doc, label: str, amount: str) -> None:
    """`label ........ amount` with a right tab stop at the margin."""
    paragraph = par(doc, f"{label}\t{amount}", indent=Mm(5), after=2)
    paragraph.paragraph_format.tab_stops.add_tab_stop(Mm(166), alignment=2)  # 2 = right


def _cell(cell, text: str, right: bool, shade: str | None = None) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_after = Pt(0)
    if right:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _runs(paragraph, text, size=9)
    if shade:
        shading = OxmlElement("w:shd")
        shading.set(qn("w:val"), "clear")
        shading.set(qn("w:color"), "auto")
        shading.set(qn("w:fill"), shade)
        cell._tc.get_or_add_tcPr().append(shading)


def _runs(paragraph, text: str, size: float | None = None) -> None:
    """Split `text` into runs: each tag alone in its run, `**` toggling bold."""
    bold = False
    for piece in TAG_OR_BOLD.split(text):
        if piece == "**":
            bold = not bold
            continue
        if not piece:
            continue
        run = paragraph.add_run(piece)
        run.bold = bold or None
        if size:
            run.font.size = Pt(size)
            if size < 9:
                run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "fr"
    for built in build_pack(target):
        print(built)
