"""Property: any sequence of runs and events leaves a case in a declared state, each timed step once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.case import CaseState
from engine.core.machine import EscalationError, Escalator
from engine.core.workflow import load_workflow
from tests.support import TEST_WORKFLOWS

HERE = TEST_WORKFLOWS
START = date(2026, 1, 5)

EVENT = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 40)),
    st.tuples(st.just("pay"), st.integers(1, 1500)),
    st.tuples(st.just("dispute"), st.just(0)),
    st.tuples(st.just("resolve"), st.just(0)),
    st.tuples(st.just("promise"), st.integers(0, 30)),
    st.tuples(st.just("hold"), st.just(0)),
    st.tuples(st.just("resume"), st.just(0)),
    st.tuples(st.just("jump"), st.integers(0, 8)),
)


def engines() -> list[Escalator]:
    return [Escalator(load_workflow(HERE / "simple.yaml")), Escalator(load_workflow(HERE / "bare.yaml"))]


ENGINES = engines()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from([0, 1]), principal=st.integers(100, 3000), events=st.lists(EVENT, max_size=40))
def test_random_histories_stay_declared_and_never_repeat_a_timed_step(
    which: int, principal: int, events: list[tuple[str, int]]
) -> None:
    engine = ENGINES[which]
    states = list(engine.workflow.states)
    case = CaseState(state=engine.workflow.initial, state_entered=START, due_date=START,
                     principal=Decimal(principal))
    today = START
    timed_dests: list[str] = []
    for kind, n in events:
        try:
            if kind == "advance":
                today += timedelta(days=n)
                steps = engine.advance(case, today)
                assert len([s for s in steps if s.trigger == "escalate"]) <= 1
                timed_dests += [s.dest for s in steps if s.trigger == "escalate"]
                if steps and steps[-1].trigger == "escalate":
                    check = engine.next_check(case)  # the next delay counts from the step just taken
                    assert check is None or check > today
            elif kind == "pay":
                engine.pay(case, Decimal(n), today)
            elif kind == "dispute":
                engine.dispute(case, today, "contested")
            elif kind == "resolve":
                engine.resolve_dispute(case, today, "settled")
            elif kind == "promise":
                engine.promise(case, today + timedelta(days=n), today)
            elif kind == "hold":
                engine.hold(case, today, "manual")
            elif kind == "resume":
                engine.resume(case, today)
            else:
                engine.jump(case, states[n % len(states)], today, "manual")
        except EscalationError:
            pass  # refused events (closed case, nothing to resolve...) must leave the case consistent
        assert case.state in engine.workflow.states
        assert case.balance == case.principal - case.paid
    assert len(timed_dests) == len(set(timed_dests)), timed_dests
    assert all(dest in case.steps_taken for dest in timed_dests)


@settings(max_examples=60, deadline=None)
@given(principal=st.integers(1, 5000), gaps=st.lists(st.integers(1, 90), min_size=1, max_size=15))
def test_advancing_on_next_check_takes_the_ladder_one_step_at_a_time(principal: int, gaps: list[int]) -> None:
    """Runs on arbitrary days never skip a rung: the destinations follow the ladder in order."""
    engine = ENGINES[0]
    case = CaseState("due", START, START, Decimal(principal))
    today, seen = START, []
    for gap in gaps:
        today += timedelta(days=gap)
        before = engine.next_check(case)
        steps = engine.advance(case, today)
        assert len(steps) <= 1
        if steps:
            assert before is not None and before <= today
            seen.append(steps[0].dest)
    ladder = ["reminder1", "reminder2", "formal_notice"]
    assert seen[:3] == ladder[: len(seen[:3])]
