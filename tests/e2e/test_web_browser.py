"""The web app in a real browser: `relance serve` on 127.0.0.1 (a free port) over a prepared workspace,
driven in Debian's headless Chromium through its chromedriver (nothing is downloaded at test time).

One person's morning: sign in, find a case, record a payment, download a letter and open it with
python-docx, approve a formal notice in the approvals queue, complete a call task, upload a template
with a broken tag and see it refused, sign out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from engine.web.screens import CHROMEDRIVER, CHROMIUM, chromium, free_port
from tests.e2e.web_client import edited
from tests.support import PACK, PASSWORDS, web_workspace

RELANCE = Path(sys.executable).parent / "relance"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium and chromedriver must be installed under CI (.ci/run installs them)")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    root = web_workspace(tmp_path_factory.mktemp("browser") / "ws")
    _ask_for_a_formal_notice(root, "Client 1 SARL")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
    server = subprocess.Popen([str(RELANCE), "--workspace", str(root), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(port, server)
        yield f"http://127.0.0.1:{port}", root
    finally:
        server.terminate()
        server.wait(timeout=20)


def _ask_for_a_formal_notice(root: Path, debtor_name: str) -> None:
    """The shipped B2B policy wants an approval before the formal notice: ask for one on that debtor's case."""
    from sqlalchemy import select

    from engine.app import App
    from engine.cases.actions import jump
    from engine.store.models import Case, Debtor
    from engine.workspace import load_workspace
    from tests.support import WEB_AS_OF

    app = App.open(load_workspace(root))
    try:
        with app.session() as session:
            ref = session.scalar(select(Case.ref).join(Debtor, Debtor.id == Case.debtor_id)
                                 .where(Debtor.name == debtor_name))
        assert ref is not None
        jump(app, ref, "formal_notice", WEB_AS_OF, by="legal", reason="aucune réponse à la relance")
    finally:
        app.store.dispose()


def _wait_for(port: int, server: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"relance serve exited: {server.stdout.read() if server.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("relance serve did not listen within 60 s")


def _downloaded(folder: Path, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == ".docx"]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no letter downloaded into {folder}: {list(folder.iterdir())}")


def navigate(browser, element) -> None:
    """Click ``element`` and wait until the page it leads to replaced this one (a loaded machine is slow)."""
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_browser: object) -> bool:
        # Chromium may answer for the old page's node either "stale" or, mid-navigation, "node does not
        # belong to the document" (a plain WebDriverException): both mean the page was replaced.
        try:
            page.is_enabled()
        except WebDriverException:  # StaleElementReferenceException included
            return True
        return False

    WebDriverWait(browser, 60).until(replaced)
    WebDriverWait(browser, 60).until(lambda b: b.execute_script("return document.readyState") == "complete")


def test_a_morning_in_the_browser(served: tuple[str, Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, root = served
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    broken = tmp_path / "relance_1.docx"
    broken.write_bytes(edited(PACK / "relance_1.docx", "{{ case_ref }}", "{{ case_ref }"))
    with chromium(downloads) as browser:
        browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        # Any page sends a stranger to the sign-in page first.
        browser.get(base + "/report")
        assert "/login" in browser.current_url
        browser.find_element(By.ID, "name").send_keys("legal")
        browser.find_element(By.ID, "password").send_keys(PASSWORDS["legal"])
        navigate(browser, browser.find_element(By.ID, "login"))
        assert browser.current_url.endswith("/report") and "Balance âgée" in browser.page_source

        # Find a case by its debtor's name.
        browser.get(base + "/cases")
        browser.find_element(By.ID, "debiteur").send_keys("Client 2")
        navigate(browser, browser.find_element(By.ID, "filter"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#cases tbody tr")
        assert len(rows) == 1 and "Client 2 SARL" in rows[0].text
        navigate(browser, rows[0].find_element(By.TAG_NAME, "a"))
        assert browser.find_element(By.ID, "debtor-name").text == "Client 2 SARL"
        before = browser.find_element(By.ID, "balance").text

        # Record a payment.
        browser.find_element(By.ID, "amount").send_keys("12,34")
        navigate(browser, browser.find_element(By.CSS_SELECTOR, "#form-pay button[type=submit]"))
        flash = browser.find_element(By.CSS_SELECTOR, ".flash").text.replace("\u00a0", " ")  # WebDriver's text may keep NBSP
        assert "Paiement de 12,34 € enregistré" in flash
        assert browser.find_element(By.ID, "balance").text != before
        timeline = browser.find_element(By.ID, "timeline").text
        assert "paiement" in timeline and "legal" in timeline
        assert "intacte" in browser.find_element(By.ID, "chain").text

        # Download its letter and open it in python-docx.
        browser.find_element(By.CSS_SELECTOR, "#letters a").click()
        letter = docx.Document(str(_downloaded(downloads)))
        text = "\n".join(p.text for p in letter.paragraphs)
        assert "Client 2 SARL" in text

        # Approve the formal notice waiting in the approvals queue: one click plus a note.
        browser.get(base + "/approvals")
        rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#approvals tbody tr") if "Client 1 SARL" in r.text]
        assert len(rows) == 1 and "Mise en demeure" in rows[0].text
        rows[0].find_element(By.CSS_SELECTOR, "form.approve input[name=reason]").send_keys("vu avec le client")
        navigate(browser, rows[0].find_element(By.CSS_SELECTOR, "form.approve button[type=submit]"))
        assert "étape validée" in browser.find_element(By.CSS_SELECTOR, ".flash").text
        assert "Client 1 SARL" not in browser.find_element(By.ID, "approvals").text
        browser.get(base + "/cases")
        browser.find_element(By.ID, "debiteur").send_keys("Client 1")
        navigate(browser, browser.find_element(By.ID, "filter"))
        navigate(browser, browser.find_element(By.CSS_SELECTOR, "#cases tbody tr a"))
        assert browser.find_element(By.ID, "case-state").text == "Mise en demeure"
        assert "validation" in browser.find_element(By.ID, "timeline").text.lower()

        # Complete a call task: the outcome, a note, one click; the task leaves the list.
        browser.get(base + "/tasks")
        rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr") if "Client 2 SARL" in r.text]
        assert len(rows) == 1
        Select(rows[0].find_element(By.NAME, "outcome")).select_by_value("reached")
        rows[0].find_element(By.CSS_SELECTOR, "form.call input[name=reason]").send_keys("réglera vendredi")
        navigate(browser, rows[0].find_element(By.CSS_SELECTOR, "form.call button[type=submit]"))
        assert "appel enregistré" in browser.find_element(By.CSS_SELECTOR, ".flash").text
        assert "Client 2 SARL" not in browser.find_element(By.ID, "tasks").text

        # Upload a template with a broken tag: refused, with the template, paragraph and tag.
        browser.get(base + "/letters")
        row = browser.find_element(By.ID, "template-relance_1.docx")
        row.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(broken))
        navigate(browser, row.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        refused = browser.find_element(By.ID, "refused").text
        assert "relance_1.docx refusé" in refused and "{{ case_ref }" in refused
        assert (root / "letters" / "fr" / "relance_1.docx").read_bytes() == (PACK / "relance_1.docx").read_bytes()

        # Sign out: the pages are closed again.
        navigate(browser, browser.find_element(By.ID, "logout"))
        assert "/login" in browser.current_url
        browser.get(base + "/cases")
        assert "/login" in browser.current_url
