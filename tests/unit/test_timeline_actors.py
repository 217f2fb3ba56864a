"""Who the printed timeline says recorded an event (engine.reports.timeline.actor_of): never a source it cannot know."""

from __future__ import annotations

import pytest

from engine.reports.timeline import actor_of
from engine.store.models import Event


@pytest.mark.parametrize("kind, actor, shown", [
    ("payment", "alice", "alice"),
    ("payment", None, "imputation automatique des règlements"),
    ("credit_note", None, "imputation automatique des avoirs"),  # a credit note comes from no bank statement
    ("state_change", None, "relance (traitement automatique)"),
])
def test_an_event_names_who_recorded_it_or_only_what_the_engine_did(kind: str, actor: str | None, shown: str) -> None:
    assert actor_of(Event(kind=kind, actor=actor)) == shown
