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
    ("{% if has_credit_notes %}Réglé / avoirs{% else %}Réglé{% endif %}", "{{ inv.paid }}", 26, True),
    ("Reste dû", "{{ inv.outstanding }}", 30, True),
]
CLOSING = "Nous vous prions d'agréer, {{ salutation }}, l'expression de nos salutations distinguées."


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
    """Courteous first reminder: maybe an oversight; a copy of the invoices on request (nothing is attached)."""
    header(doc, recipient="debtor")
    subject(doc, "Relance — {% if plural %}factures arrivées{% else %}facture arrivée{% endif %} à échéance")
    par(doc, "{{ salutation }},")
    agency_notice(doc)
    par(doc, "Sauf erreur ou omission de notre part, nous n'avons pas encore reçu le règlement "
             "{% if plural %}des factures suivantes, arrivées{% else %}de la facture suivante, arrivée{% endif %} "
             "à échéance :")
    invoice_table(doc)
    agency_breakdown(doc)
    par(doc, "Il s'agit peut-être d'un simple oubli. Sur simple demande, nous vous adresserons une copie de "
             "{% if plural %}ces factures{% else %}cette facture{% endif %}.")
    deadline_and_payment(doc, "Nous vous remercions de bien vouloir nous régler la somme de "
                              "**{{ total_outstanding }}** d'ici le **{{ deadline }}**.")
    par(doc, "Si votre règlement a été effectué entre-temps, nous vous prions de ne pas tenir "
             "compte de ce courrier. Notre service comptable reste à votre disposition pour toute "
             "question{% if sender.phone %} au {{ sender.phone }}{% endif %}.")
    signature(doc)


def despite(words: str, lead: str = " ") -> str:
    """« malgré nos relances » (``words``) for the listed invoices an earlier contact named: all of them, or only
    those, by number; nothing when none was (an invoice that joined the case since was never reminded)."""
    return ("{% if all_reminded %}" + lead + words + "{% elif reminded_numbers %}" + lead + words + " concernant "
            "{% if reminded_numbers|length > 1 %}les factures n° {% else %}la facture n° {% endif %}"
            "{{ reminded_numbers|join(', ') }}{% endif %}")


def relance_2(doc) -> None:
    """Second reminder: recalls the earlier steps the timeline records and asks for a planned payment date."""
    header(doc, recipient="debtor")
    subject(doc, "Deuxième relance — {% if plural %}factures impayées{% else %}facture impayée{% endif %}")
    par(doc, "{{ salutation }},")
    agency_notice(doc)
    par(doc, "{% if plural %}Les factures ci-dessous restent impayées{% else %}La facture ci-dessous reste "
             "impayée{% endif %} à ce jour" + despite("malgré nos précédentes démarches", ", ") + " :")
    invoice_table(doc)
    agency_breakdown(doc)
    history_list(doc, "Pour mémoire, nous vous avons adressé :")
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
    subject(doc, "Dernière relance amiable — {% if plural %}factures impayées{% else %}facture impayée{% endif %}")
    par(doc, "{{ salutation }},")
    agency_notice(doc)
    par(doc, "{% if plural %}Les factures suivantes demeurent impayées{% else %}La facture suivante demeure "
             "impayée{% endif %}" + despite("malgré nos relances précédentes") + " :")
    invoice_table(doc)
    agency_breakdown(doc)
    history_list(doc, "Nos démarches précédentes :")
    par(doc, "{%p if is_b2b %}")
    par(doc, "Nous vous rappelons que tout retard de paiement entraîne de plein droit des "
             "pénalités de retard (article L441-10 du Code de commerce) et une indemnité "
             "forfaitaire pour frais de recouvrement de 40\u00a0€ par facture (article D441-5 du "
             "Code de commerce).")
    par(doc, "{%p endif %}")
    deadline_and_payment(doc, "Nous vous demandons de régler la somme de "
                              "**{{ total_outstanding }}** au plus tard le **{{ deadline }}**.")
    # The next step as the policy has it: a policy may go straight to litigation, and time-barred debts
    # go to neither, so the letter announces only what will follow.
    par(doc, "Ce courrier constitue notre dernière relance amiable."
             "{% if next_step and next_step.kind == 'formal_notice' %} Sans règlement ni réponse de votre part à "
             "cette date, nous vous adresserons une mise en demeure de payer."
             "{% elif next_step and next_step.kind == 'litigation' %} Sans règlement ni réponse de votre part à "
             "cette date, nous transmettrons le dossier au contentieux.{% endif %}")
    signature(doc)


def mise_en_demeure(doc) -> None:
    """Formal notice: the words, registered letter, itemised statement, deadline, what follows."""
    header(doc, recipient="debtor", registered=True)
    subject(doc, "Mise en demeure de payer")
    par(doc, "{{ salutation }},")
    agency_notice(doc)
    par(doc, "{% if plural %}Les factures suivantes restent impayées{% else %}La facture suivante reste "
             "impayée{% endif %}" + despite("malgré nos relances") + " :")
    invoice_table(doc)
    history_list(doc, "Nos démarches amiables sont restées sans effet :")
    par(doc, "Le montant de notre créance s'établit comme suit au {{ date_long }} :")
    amounts_breakdown(doc)
    statement_table(doc)
    par(doc, "En conséquence, nous vous **mettons en demeure** de nous régler la somme de "
             "**{{ total_claim }}**{% if indemnity_apart %}, ainsi que l'indemnité forfaitaire de "
             "{{ indemnity }}{% endif %}, somme à parfaire, dans un délai de {{ pay_within_days }}\u00a0jours "
             "à compter de la date du présent courrier, soit au plus tard le **{{ deadline }}**.")
    payment_details(doc)
    par(doc, "{%p if is_b2c %}")
    par(doc, "La présente mise en demeure fait courir les intérêts au taux légal sur les sommes "
             "dues à compter de sa réception (articles 1231-6 et 1344-1 du Code civil).")
    par(doc, "{%p endif %}")
    par(doc, "À défaut de règlement dans ce délai, nous saisirons la juridiction compétente "
             "d'une requête en injonction de payer ou engagerons toute action en justice utile "
             "au recouvrement de notre créance, sans autre avis.")
    signature(doc)


def transmission_contentieux(doc) -> None:
    """Hand-off to counsel: the itemised statement, every recorded step with its date, the court, the pieces."""
    header(doc, recipient="counsel")
    subject(doc, "Transmission du dossier {{ case_ref }} — créance sur {{ debtor.name }}")
    par(doc, "Maître,")
    par(doc, "Nous vous confions le recouvrement judiciaire de la créance décrite ci-dessous, "
             "en vue d'une requête en injonction de payer (articles 1405 et suivants du Code de "
             "procédure civile) ou de toute action que vous jugerez utile.")
    par(doc, "**Débiteur**")
    par(doc, "{{ debtor.name }}{% if debtor.siren %} — SIREN {{ debtor.siren }}{% endif %} "
             "({% if is_b2b %}professionnel{% else %}particulier{% endif %})")
    par(doc, "{{ debtor.address_lines|join(', ') }}, {{ debtor.postal_code }} {{ debtor.city }}"
             "{% if debtor.country_name %}, {{ debtor.country_name }}{% endif %}")
    par(doc, "**{% if plural %}Factures impayées{% else %}Facture impayée{% endif %}**")
    invoice_table(doc)
    par(doc, "**Décompte de la créance au {{ date_long }}**")
    amounts_breakdown(doc)
    statement_table(doc)
    par(doc, "**Démarches effectuées**")
    par(doc, "{%p if has_history %}")
    par(doc, "{%p for step in history %}")
    par(doc, HISTORY_LINE, indent=Mm(5), after=0)
    par(doc, "{%p endfor %}")
    par(doc, "{%p else %}")
    par(doc, "Aucun courrier n'a été adressé au débiteur.")
    par(doc, "{%p endif %}")
    # The steps above list the formal notice; this says what matters to the lawyer about it.
    par(doc, "{%p if notice %}")
    par(doc, "La mise en demeure du {{ notice.date_long }}{% if notice.reference %} (réf. {{ notice.reference }})"
             "{% endif %}, adressée par {{ notice.channel_label }}{% if notice.received_on %}, reçue le "
             "{{ notice.received_on }}{% elif notice.presented_on %}, présentée le {{ notice.presented_on }} et non "
             "réclamée{% else %} (accusé de réception non enregistré){% endif %}{% if notice.tracking %}, n° de suivi "
             "{{ notice.tracking }}{% endif %}, est restée sans effet.")
    par(doc, "{%p else %}")
    par(doc, "Aucune mise en demeure n'a été adressée au débiteur pour ces factures.")
    par(doc, "{%p endif %}")
    # A French court only for a debtor in France (engine.core.jurisdiction): abroad, the court turns on facts
    # the file does not hold, and the letter names none.
    par(doc, "{%p if court %}")
    par(doc, "Juridiction : {{ court.name }} du domicile du débiteur — {{ court.reason }}.")
    par(doc, "{%p else %}")
    par(doc, "Juridiction : à déterminer, l'adresse du débiteur étant hors de France métropolitaine"
             "{% if debtor.country_name %} ({{ debtor.country_name }}){% endif %}.")
    par(doc, "{%p endif %}")
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
    # R123-237 C. com.: legal form, capital, RCS city and number, VAT number (built in the context).
    _runs(footer, "{{ sender.legal_mentions }}{% if agency %} — pour le compte de {{ creditor.name }}{% endif %}"
                  "{% if sender.email %} — {{ sender.email }}{% endif %}", size=8)
    return doc


def header(doc, recipient: str, registered: bool = False) -> None:
    """Sender block, recipient block, place and date, references."""
    par(doc, "**{{ sender.name }}**", after=0)
    address(doc, "sender", indent=None)
    par(doc, "{%p if sender.phone %}")
    par(doc, "Tél. {{ sender.phone }}", after=0)
    par(doc, "{%p endif %}")
    par(doc, "{%p if sender.email %}")
    par(doc, "{{ sender.email }}", after=0)
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
    # CPCE R124-4: an agency's later letters quote its first letter's reference and date.
    par(doc, "{%p if agency and first_letter %}")
    par(doc, "Notre premier courrier : {{ first_letter.reference }} du {{ first_letter.date_long }}", size=9)
    par(doc, "{%p endif %}")


def agency_notice(doc) -> None:
    """CPCE R124-4: who writes (an agency collecting amicably) and for whom (the creditor, its address)."""
    par(doc, "{%p if agency %}")
    par(doc, "{{ agency.name }}, société de recouvrement amiable, intervient pour le compte de son mandant, "
             "{{ creditor.name }}, {{ creditor.address_lines|join(', ') }}, {{ creditor.postal_code }} "
             "{{ creditor.city }}, aux fins de recouvrement amiable de la créance ci-dessous.")
    par(doc, "{%p endif %}")


def agency_breakdown(doc) -> None:
    """CPCE R124-4: an agency's letter states the basis of the debt and splits principal, interest, other sums."""
    par(doc, "{%p if agency %}")
    par(doc, "Fondement de la créance : {% if plural %}les factures ci-dessus, émises{% else %}la facture "
             "ci-dessus, émise{% endif %} par {{ creditor.name }}. Détail des sommes dues :")
    amounts_breakdown(doc)
    par(doc, "{%p endif %}")


def address(doc, who: str, indent) -> None:
    """Address lines (a `{%p for %}` loop), then postal code and city, then the country when the letter
    crosses a border (`country_name`, in capitals as the postal services ask; none for a domestic letter)."""
    par(doc, f"{{%p for line in {who}.address_lines %}}")
    par(doc, "{{ line }}", indent=indent, after=0)
    par(doc, "{%p endfor %}")
    par(doc, f"{{{{ {who}.postal_code }}}} {{{{ {who}.city }}}}", indent=indent, after=0)
    if who != "sender":
        par(doc, f"{{%p if {who}.country_name %}}")
        par(doc, f"{{{{ {who}.country_name }}}}", indent=indent, after=0)
        par(doc, "{%p endif %}")


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


HISTORY_LINE = ("– le {{ step.date_long }} : {{ step.label }}{% if step.reference %} (réf. {{ step.reference }})"
                "{% endif %}, {{ step.channel_label }}")


def history_list(doc, intro: str) -> None:
    """The contacts the case's timeline records (letters sent, receipts), with their dates."""
    par(doc, "{%p if has_history %}")
    par(doc, intro, after=2)
    par(doc, "{%p for step in history %}")
    par(doc, HISTORY_LINE, indent=Mm(5), after=0)
    par(doc, "{%p endfor %}")
    par(doc, "", after=0)
    par(doc, "{%p endif %}")


def amounts_breakdown(doc) -> None:
    """Principal, penalties, indemnity (B2B) or interest (B2C), and the total claimed (somme à parfaire)."""
    lines = [
        ("Principal restant dû", "{{ total_outstanding }}", None),
        ("Pénalités de retard (art. L441-10 du Code de commerce)", "{{ penalties }}", "is_b2b"),
        ("Indemnité forfaitaire de 40\u00a0€ par facture (art. D441-5 du Code de commerce)",
         "{{ indemnity }}", "is_b2b and not indemnity_apart"),
        ("Intérêts au taux légal (art. 1231-6 et 1344-1 du Code civil){% if interest_from %}, à compter "
         "{{ interest_basis }} le {{ interest_from }}{% endif %}", "{{ interest }}", "is_b2c"),
    ]
    for label, amount, condition in lines:
        if condition:
            par(doc, f"{{%p if {condition} %}}")
        _amount_line(doc, label, amount)
        if condition:
            par(doc, "{%p endif %}")
    _amount_line(doc, "**Total réclamé, somme à parfaire**", "**{{ total_claim }}**")
    # D441-5: a statutory amount in euros, never added to a claim in another currency.
    par(doc, "{%p if indemnity_apart %}")
    _amount_line(doc, "En sus, en euros : indemnité forfaitaire pour frais de recouvrement (art. D441-5 du Code "
                      "de commerce)", "{{ indemnity }}")
    par(doc, "{%p endif %}")


STATEMENT = [  # header, cell tag, width (mm), right-aligned
    ("Détail", "{{ row.label }}", 45, False),
    ("Période", "{{ row.period }}", 41, False),
    ("Jours", "{{ row.days }}", 13, True),
    ("Taux annuel", "{{ row.rate }}", 16, True),
    ("Base", "{{ row.base }}", 25, True),
    ("Montant", "{{ row.amount }}", 26, True),
]


def statement_table(doc) -> None:
    """The itemised statement (décompte): per invoice, payments, each half-year period with its days,
    rate, base and amount, the indemnity and what is left; the totals above are these lines' sums."""
    par(doc, "{%p if has_statement %}")
    par(doc, "**Décompte détaillé**", before=4, after=2)
    table = doc.add_table(rows=4, cols=len(STATEMENT))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    header_row, loop_start, body_row, loop_end = table.rows
    for index, (title, tag, width, right) in enumerate(STATEMENT):
        table.columns[index].width = Mm(width)  # the grid: what LibreOffice and Word lay out
        for row in table.rows:
            row.cells[index].width = Mm(width)
        _cell(header_row.cells[index], f"**{title}**", right, shade="DCE6F0", size=8)
        _cell(body_row.cells[index], tag, right, size=8)
    _cell(loop_start.cells[0], "{%tr for row in statement_rows %}", False)
    _cell(loop_end.cells[0], "{%tr endfor %}", False)
    par(doc, "Chaque période est calculée ainsi : base × taux annuel × jours / 365, semestre civil par semestre "
             "civil ; les règlements sont déduits à compter du lendemain de leur date."
             "{% if is_b2b %} Somme à parfaire : les pénalités courent jusqu'au complet paiement."
             "{% elif interest_from %} Somme à parfaire : les intérêts courent jusqu'au complet paiement.{% endif %}",
        size=8.5, before=2)
    par(doc, "{%p endif %}")


def deadline_and_payment(doc, demand: str) -> None:
    par(doc, "{%p if deadline %}")
    par(doc, demand)
    par(doc, "{%p endif %}")
    payment_details(doc)


def payment_details(doc) -> None:
    par(doc, "Règlement par virement à {{ payee.name }} — IBAN : {{ payee.iban }} — BIC : {{ payee.bic }} — "
             "référence à rappeler : **{{ payment_reference }}**.")


def signature(doc, closing: str = CLOSING) -> None:
    # Keep the closing and the signature on one page.
    par(doc, closing, before=6).paragraph_format.keep_with_next = True
    par(doc, "{{ sender.signatory }}", indent=RIGHT_BLOCK, before=14,
        after=0).paragraph_format.keep_with_next = True
    par(doc, "{{ sender.signatory_title }}", indent=RIGHT_BLOCK)
    # P.J. only when the letter encloses something (the context names it from the records).
    par(doc, "{%p if has_enclosures %}")
    par(doc, "P.J. : {{ enclosures|join(' ; ') }}", before=12, size=9)
    par(doc, "{%p endif %}")


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


def _cell(cell, text: str, right: bool, shade: str | None = None, size: float = 9) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_after = Pt(0)
    if right:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _runs(paragraph, text, size=size, grey=False)
    if shade:
        shading = OxmlElement("w:shd")
        shading.set(qn("w:val"), "clear")
        shading.set(qn("w:color"), "auto")
        shading.set(qn("w:fill"), shade)
        cell._tc.get_or_add_tcPr().append(shading)


def _runs(paragraph, text: str, size: float | None = None, grey: bool | None = None) -> None:
    """Split `text` into runs: each tag alone in its run, `**` toggling bold; small notes print grey."""
    grey = bool(size and size < 9) if grey is None else grey
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
        if grey:
            run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "fr"
    for built in build_pack(target):
        print(built)
