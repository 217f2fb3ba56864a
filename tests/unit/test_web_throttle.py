"""The login throttle: a sliding window per name and per address, and bounded memory."""

from __future__ import annotations

import engine.web.security as security
from engine.web.security import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_is_until_the_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(per_user=3, per_address=100, window=600, clock=clock)
    for second in (0, 10, 20):
        clock.now = second
        assert throttle.wait("Ana", "10.0.0.1") == 0
        throttle.failed("Ana", "10.0.0.1")
    clock.now = 30
    assert throttle.wait("ana", "10.0.0.9") == 570  # names compare without case; the oldest failure ends at 600
    clock.now = 600
    assert throttle.wait("ana", "10.0.0.9") == 0
    throttle.failed("ana", "x")
    throttle.succeeded("ANA")
    assert throttle.wait("ana", "x") == 0


def test_stale_names_are_forgotten_past_the_bound(monkeypatch) -> None:
    monkeypatch.setattr(security, "MAX_REMEMBERED", 50)
    clock = Clock()
    throttle = LoginThrottle(window=60, clock=clock)
    for i in range(200):
        clock.now = i * 100  # each failure outlives the one before it
        throttle.failed(f"user{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(throttle._failures) <= 52
    assert throttle.wait("user199", "elsewhere") == 0 and len(throttle._failures[("user", "user199")]) == 1
