"""The ``{n:id}`` URL convertor matches exactly the numbers a row's id can be."""

from __future__ import annotations

import random
import re

from engine.cases.lookup import MAX_ID
from engine.web.urls import at_most


def test_at_most_matches_exactly_the_numbers_up_to_its_limit() -> None:
    for limit in (0, 1, 7, 9, 10, 19, 20, 99, 100, 305, 1000, 2024):
        pattern = re.compile(at_most(limit))
        assert [n for n in range(limit * 3 + 30) if bool(pattern.fullmatch(str(n))) != (n <= limit)] == [], limit
    pattern = re.compile(at_most(MAX_ID))
    picked = [MAX_ID - 1, MAX_ID, MAX_ID + 1, 10 * MAX_ID, 2_100_000_000, 9_999_999_999, 10**20]
    picked += [random.Random(7).randrange(10**11) for _ in range(20_000)]
    assert [n for n in picked if bool(pattern.fullmatch(str(n))) != (n <= MAX_ID)] == []
    assert not pattern.fullmatch("-1") and not pattern.fullmatch("1e3") and not pattern.fullmatch("²")
