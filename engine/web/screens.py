"""Screenshots of the web app's main pages, taken in Debian's headless Chromium from a demo workspace.

    python -m engine.web.screens OUT/ [--workspace DIR]

Without ``--workspace`` it builds the demo (`relance demo`) in a temporary folder first. The app is
served on 127.0.0.1 (a free port) in this process; Chromium comes from /usr/bin (nothing is downloaded).
``chromium`` and ``serve_in_thread`` are shared with the browser tests.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Flags for a browser that talks to nothing but our server and keeps nothing between runs.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--lang=fr-FR")
PAGES = (("cases", "/cases"), ("case", None), ("approvals", "/approvals"), ("tasks", "/tasks"),
         ("report", "/report"), ("workflows", "/workflows"), ("letters", "/letters"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def chromium(downloads: Path | None = None, *, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium driven by Debian's chromedriver, with a fresh profile (and download folder)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="relance-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        if downloads is not None:
            options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                      "download.prompt_for_download": False})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@contextmanager
def serve_in_thread(web: Any, port: int) -> Iterator[str]:
    """Serve the Starlette app ``web`` on 127.0.0.1:``port`` in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(driver: Any, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: "/login" not in d.current_url)  # signed in, not still posting


def full_page(driver: Any, path: Path) -> None:
    """A screenshot of the whole page, not just the window."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(max(int(height) + 120, 600), 4000))
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 900)


def take(workspace: Path, out: Path) -> list[Path]:
    """Sign in as the demo user and capture each main page; the PNGs written."""
    from selenium.webdriver.common.by import By

    from engine.app import App
    from engine.cases import users
    from engine.demo import DEMO_PASSWORD, DEMO_USER
    from engine.web.app import create_app
    from engine.workspace import load_workspace

    desk = App.open(load_workspace(workspace))
    if users.get_user(desk, DEMO_USER) is None:
        users.add_user(desk, DEMO_USER, "admin", DEMO_PASSWORD)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with serve_in_thread(create_app(desk), free_port()) as base, chromium() as driver:
        sign_in(driver, base, DEMO_USER, DEMO_PASSWORD)
        for name, url in PAGES:
            if url is None:  # an open case, with its forms: the largest balance
                driver.get(base + "/cases?tri=balance&ordre=desc")
                url = driver.find_element(By.CSS_SELECTOR, "#cases tbody a").get_attribute("href")
                driver.get(url)
            else:
                driver.get(base + url)
            path = out / f"{name}.png"
            full_page(driver, path)
            written.append(path)
    desk.store.dispose()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.web.screens", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--workspace", type=Path, help="a workspace to show (default: a fresh demo)")
    args = parser.parse_args(argv)
    workspace = args.workspace
    if workspace is None:
        from engine.demo import run_demo

        workspace = Path(tempfile.mkdtemp(prefix="relance-screens-")) / "demo"
        run_demo(workspace)
    for path in take(workspace.resolve(), args.out):
        print(path)


if __name__ == "__main__":
    main()
