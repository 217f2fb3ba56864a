"""Letters per second: plain docxtpl render+save against the compiled path, on relance_2.docx.

Run: python bench/letters.py [--repeat N]
Prints ms per letter for 1, 10 and 100 invoice rows and the speed-up; both paths use the same
sandboxed environment and produce part-identical files (tests/unit/test_letters_compiled.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

# Python puts bench/ first on sys.path, where bench/engine.py would shadow the engine package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from engine.letters import (  # noqa: E402
    CompiledTemplate,
    InvoiceLine,
    build_context,
    make_environment,
    render_plain,
    sample_letter_data,
)

TEMPLATE = Path(__file__).resolve().parent.parent / "letters" / "fr" / "relance_2.docx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="letters per measurement")
    args = parser.parse_args()
    env = make_environment()
    started = time.perf_counter()
    compiled = CompiledTemplate(TEMPLATE, env)
    compile_ms = (time.perf_counter() - started) * 1000
    print(f"command: {Path(sys.executable).name} bench/letters.py --repeat {args.repeat}")
    print(f"template: {TEMPLATE.name}, compile once: {compile_ms:.1f} ms")
    print(f"{'rows':>5} {'plain ms':>10} {'compiled ms':>12} {'ratio':>7}")
    for rows in (1, 10, 100):
        ctx = build_context(replace(sample_letter_data(), invoices=invoices(rows)))
        plain = per_letter(lambda: render_plain(TEMPLATE, ctx, env), max(args.repeat // 3, 3))
        fast = per_letter(lambda: compiled.render(ctx), args.repeat)
        print(f"{rows:>5} {plain:>10.2f} {fast:>12.2f} {plain / fast:>6.1f}x")


def invoices(count: int) -> list[InvoiceLine]:
    return [
        InvoiceLine(f"FA-2026-{n:04d}", date(2026, 8, 1) + timedelta(days=n % 60),
                    date(2026, 9, 1) + timedelta(days=n % 60), Decimal("1234.56"),
                    Decimal("100.00"), Decimal("1134.56"))
        for n in range(count)
    ]


def per_letter(render, repeat: int) -> float:
    """Best of three batches, in ms per letter (the best filters out scheduler noise)."""
    render()  # warm caches
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            render()
        best = min(best, (time.perf_counter() - started) * 1000 / repeat)
    return best


if __name__ == "__main__":
    main()
