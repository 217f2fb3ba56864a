"""The terminal consoles every command prints to, created on first use.

Importing rich costs more than the rest of `relance --help`; a command module holds a ``LazyConsole``
and rich loads only when something is printed. Text from users goes through
engine.reports.terminal (``markup`` or ``cell``) before it reaches ``print``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.reports.terminal import cell

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich ``Console`` made at the first ``print``: no highlighting (numbers in names stay plain),
    no ``:emoji:`` codes (a name is printed as typed), soft wrap (a path stays copyable)."""

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr, highlight=False, soft_wrap=True, emoji=False)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


console = LazyConsole()
errors_console = LazyConsole(stderr=True)


def print_rates(rates: dict[str, Any]) -> None:
    """Which rates the letters' figures rest on without confirmation (``engine.app.rates_summary``): for the
    team, never for the debtor. Every command that writes letters (run, approve, the case actions) says it."""
    if rates.get("assumed"):
        console.print(cell(f"Rates assumed (half-years missing from {rates['file']}, the last one carried "
                           f"forward): {', '.join(rates['assumed'])}", "yellow"))
    if rates.get("unverified"):
        console.print(cell(f"Unverified rates used (verified = no in {rates['file']}; confirm them on "
                           f"Légifrance / the ECB site): {', '.join(rates['unverified'])}", "yellow"))


__all__ = ["LazyConsole", "console", "errors_console", "print_rates"]
