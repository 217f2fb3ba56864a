"""`relance run` with and without --pdf: the cases' transactions no longer wait on LibreOffice.

Run: python bench/pdf_run.py [--cases N] [--per-letter K]
Builds two workspaces of N due B2B cases (one reminder each; no [smtp], so no e-mail goes), runs one day
without --pdf and one with it, and prints: the run's time (its transactions), the batched conversion's
time and LibreOffice processes, and — for comparison — K letters converted the old way, one soffice per
letter (what `run --pdf` did inside each case's transaction before).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

# Python puts bench/ first on sys.path, where bench/engine.py would shadow the engine package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from engine.app import App  # noqa: E402
from engine.cases.channels import ChannelWriter  # noqa: E402
from engine.letters.pdf import Conversion  # noqa: E402
from engine.letters import to_pdf  # noqa: E402
from engine.workspace import init_workspace, load_workspace  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.support import write_portfolio  # noqa: E402

AS_OF = date(2025, 1, 20)


def workspace(folder: Path, cases: int) -> App:
    init_workspace(folder / "ws")
    app = App.open(load_workspace(folder / "ws", f"sqlite:///{folder / 'ws' / 'relance.sqlite'}"))
    app.import_files(write_portfolio(folder / "csv", cases))
    return app


def timed_run(app: App, pdf: bool) -> tuple[float, float, int]:
    """(seconds in the run's transactions, seconds converting after them, LibreOffice processes)."""
    original = ChannelWriter.convert_pending
    spent = [0.0]

    def measured(self: ChannelWriter) -> Conversion:
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            spent[0] += time.perf_counter() - started

    ChannelWriter.convert_pending = measured  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        app.run(AS_OF, pdf=pdf)
        total = time.perf_counter() - started
    finally:
        ChannelWriter.convert_pending = original  # type: ignore[method-assign]
    return total - spent[0], spent[0], app.after_run.pdf_processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--per-letter", type=int, default=5, help="letters converted one soffice each")
    args = parser.parse_args()
    if shutil.which("soffice") is None:
        sys.exit("LibreOffice (soffice) is not installed")
    with tempfile.TemporaryDirectory() as scratch:
        plain_run, _, _ = timed_run(workspace(Path(scratch) / "plain", args.cases), pdf=False)
        app = workspace(Path(scratch) / "pdf", args.cases)
        pdf_run, convert, processes = timed_run(app, pdf=True)
        letters = sorted(app.workspace.output_dir.rglob("*.docx"))
        pdfs = len(list(app.workspace.output_dir.rglob("*.pdf")))
        started = time.perf_counter()
        for letter in letters[: args.per_letter]:
            to_pdf(letter, Path(scratch) / "one-by-one")
        one_by_one = (time.perf_counter() - started) / max(1, min(args.per_letter, len(letters)))
    print(f"{args.cases} cases, one letter each")
    print(f"  run without --pdf        {plain_run:7.2f} s  ({plain_run / args.cases * 1000:6.1f} ms per case)")
    print(f"  run with --pdf: the run  {pdf_run:7.2f} s  ({pdf_run / args.cases * 1000:6.1f} ms per case) "
          f"— its transactions, LibreOffice not started yet")
    print(f"  then converting {pdfs} PDFs {convert:7.2f} s  ({convert / max(pdfs, 1):5.2f} s per letter, "
          f"{processes} LibreOffice process(es), after every commit)")
    print(f"  one soffice per letter   {one_by_one:7.2f} s per letter (the old way, inside each transaction)")


if __name__ == "__main__":
    main()
