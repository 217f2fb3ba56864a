"""Which court hears the claim if the amicable phase fails: tribunal de commerce or tribunal judiciaire.

The injonction de payer (CPC 1405 s.) goes to the tribunal de commerce when the debtor is a merchant
(commerçant or commercial company), otherwise to the tribunal judiciaire (LAW.md). A consumer is never
a merchant. For a business the debtor file may say so (`is_merchant` column); when it does not, the
legal form in the name decides: the forms that are commercial by their form (Code de commerce L210-1:
SNC, SCS, SARL and EURL, SA, SAS and SASU, SCA) go to the tribunal de commerce; any other business
(SELARL, SELAS, SCI, SCP, association, liberal profession, farmer, unknown form) to the tribunal
judiciaire, which has general jurisdiction. The letter says which rule chose the court.

These are French courts, competent here because the debtor lives in France. For a debtor whose address is
in another country (any code but FR, so the overseas departments too, whose commercial courts are mixed
ones), which court hears the claim turns on facts the debtor file does not hold (a jurisdiction clause,
the Brussels I bis regulation, a treaty): no court is named, and the letter says less. The same holds for
an address recorded as FR whose postal code is overseas (97xxx, 98xxx): the rule below names the courts of
metropolitan France.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMERCIAL_FORMS = ("SNC", "SCS", "SARL", "EURL", "SA", "SAS", "SASU", "SCA")
# The country whose courts the rule below names (the debtors' `country` column, ISO 3166 alpha-2).
COURTS_COUNTRY = "FR"
# Postal codes of the overseas departments and collectivities, whose courts the rule does not name.
OVERSEAS_POSTAL_PREFIXES = ("97", "98")
_WORD = re.compile(r"[A-Za-zÀ-ÿ.]+")


@dataclass(frozen=True)
class Court:
    """The court and why it was chosen (printed in the hand-off)."""

    name: str  # "tribunal de commerce" | "tribunal judiciaire"
    reason: str


def court_for(debtor_kind: str, is_merchant: bool | None, name: str, country: str | None = COURTS_COUNTRY,
              postal_code: str | None = None) -> Court | None:
    """The court for a claim against this debtor (see the module docstring for the rule); None for a debtor
    whose address is not in metropolitan France (``country``: none recorded is France, as the debtors file
    reads it; an overseas ``postal_code`` under FR is not metropolitan)."""
    if (country or COURTS_COUNTRY).strip().upper() != COURTS_COUNTRY:
        return None
    if (postal_code or "").strip().startswith(OVERSEAS_POSTAL_PREFIXES):
        return None
    if debtor_kind == "b2c":
        return Court("tribunal judiciaire", "débiteur particulier, non commerçant")
    if is_merchant is True:
        return Court("tribunal de commerce", "débiteur commerçant")
    if is_merchant is False:
        return Court("tribunal judiciaire", "débiteur professionnel non commerçant")
    form = legal_form(name)
    if form is not None:
        return Court("tribunal de commerce", f"société commerciale par sa forme : {form}")
    return Court("tribunal judiciaire", "qualité de commerçant du débiteur non établie")


def legal_form(name: str) -> str | None:
    """The commercial legal form written in a company name (`Dupont SARL` → `SARL`), if any."""
    for word in _WORD.findall(name):
        token = word.replace(".", "")
        if token.isupper() and token in COMMERCIAL_FORMS:  # "SA", not the word "sa"
            return token
    return None


__all__ = ["COMMERCIAL_FORMS", "COURTS_COUNTRY", "Court", "court_for", "legal_form"]
