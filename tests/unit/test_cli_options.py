"""engine.cli.options: what every command shares."""

from __future__ import annotations

import gc

from engine.cli.options import settled_heap


def test_a_settled_heap_hides_the_existing_objects_from_the_collector_only_inside_the_block() -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    long_lived: list[list[int]] = [[] for _ in range(100)]  # tracked by the collector, unlike bare objects
    with settled_heap():
        assert gc.get_freeze_count() >= frozen + len(long_lived)
        assert gc.get_threshold()[0] == 10_000
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # garbage made during the run is still collected
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)


def test_a_settled_heap_is_undone_when_the_run_raises() -> None:
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        with settled_heap():
            raise RuntimeError("a run that failed")
    except RuntimeError:
        pass
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)
