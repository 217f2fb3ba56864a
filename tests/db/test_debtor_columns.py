"""The debtors file's optional `civility` and `is_merchant` columns: normalised, or refused with the column."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.imports.importer import ImportFailed, import_csv
from engine.store.database import connect
from engine.store.models import Debtor


def test_civility_and_merchant_are_read_and_bad_values_located(database_url: str, tmp_path: Path) -> None:
    store = connect(database_url, upgrade=True)
    good = tmp_path / "debtors.csv"
    good.write_text("debtor_ref;kind;name;civility;is_merchant\n"
                    "A;b2c;Jean Petit;Monsieur;\nB;b2c;Anne Morel;mme;\nC;b2b;Leroy SELARL;;non\n"
                    "D;b2b;Dupont;;oui\nE;b2b;Martin SARL;;\n", encoding="utf-8")
    import_csv(store, good, creditor_ref="ACME")
    with store.session() as s:
        rows = {d.ref: (d.civility, d.is_merchant) for d in s.scalars(select(Debtor))}
    assert rows == {"A": ("M.", None), "B": ("Mme", None), "C": (None, False), "D": (None, True), "E": (None, None)}
    bad = tmp_path / "bad.csv"
    bad.write_text("debtor_ref;kind;name;civility;is_merchant\nF;b2c;X;Dr;\nG;b2b;Y;;peut-être\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as refused:
        import_csv(store, bad, creditor_ref="ACME")
    found = [(p.line, p.column) for p in refused.value.problems]
    assert found == [(2, "civility"), (3, "is_merchant")]
    assert "M. or Mme" in str(refused.value) and "yes or no" in str(refused.value)
    store.dispose()
