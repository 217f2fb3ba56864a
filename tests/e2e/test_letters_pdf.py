"""Real readers: every shipped letter, rendered with the sample, opens in LibreOffice and reads right."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from engine.letters import build_context, render_letter, sample_letter_data, to_pdf
from tests.support import PACK

NBSP = "\u00a0"


def test_pack_converts_to_pdf_with_names_numbers_and_french_totals(tmp_path: Path) -> None:
    if shutil.which("soffice") is None:  # the environment ships LibreOffice; say so if not
        pytest.fail("soffice (LibreOffice) is not installed: cannot check letters in a real reader")
    for path in sorted(PACK.glob("*.docx")):
        kind = "b2c" if path.stem == "mise_en_demeure" else "b2b"
        letter = sample_letter_data(kind)
        ctx = build_context(letter)
        docx = tmp_path / path.name
        render_letter(path, letter, docx)
        pdf = to_pdf(docx, tmp_path)
        assert pdf is not None and pdf.exists()
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                              text=True, check=True).stdout
        assert letter.debtor.name in text, path.name
        for invoice in letter.invoices:
            assert invoice.number in text, (path.name, invoice.number)
        # Amounts carry U+00A0 (no-break) in the DOCX; the PDF lays them out on one line and
        # pdftotext gives them back as plain spaces: "3 649,76 €".
        assert ctx["total_outstanding"] == f"3{NBSP}649,76{NBSP}€"
        assert "3 649,76 €" in text, path.name
        assert "\u202f" not in text
        assert "{{" not in text and "{%" not in text, path.name
        if path.stem == "mise_en_demeure":
            assert "Mise en demeure" in text and "Lettre recommandée avec accusé de réception" in text
            assert "10,74 €" in text and "30 juin 2026" in text  # the sample B2C claim's interest and deadline


def test_to_pdf_without_soffice_returns_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert to_pdf(tmp_path / "x.docx") is None
