"""The periods a question names (``_query``): shifted dates, ISO dates, months without a
year, and what ``date_weight`` does with them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("chat",)


def _day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_a_shift_before_a_date_widens_its_window_towards_the_event() -> None:
    (start, end), = analyze("What did she get two weeks before August 11, 2023?").windows
    assert start <= _day(2023, 7, 28) and _day(2023, 8, 11) < end < _day(2023, 8, 25)
    (start, end), = analyze("What did he do the week before 3 August 2023?").windows
    assert start <= _day(2023, 7, 27) and end < _day(2023, 8, 15)
    (start, end), = analyze("What did she do three days after 7 July 2023?").windows
    assert _day(2023, 6, 29) < start and end >= _day(2023, 7, 17)
    (start, end), = analyze("What did we do on 2023-05-07?").windows
    assert start < _day(2023, 5, 7) < end


def test_a_month_without_a_year_matches_that_month_of_any_year() -> None:
    q = analyze("When did Melanie go camping in June?")
    assert q.months == (6,) and q.windows == () and q.dated
    assert q.in_period(_day(2023, 6, 20)) and q.in_period(_day(2019, 6, 2)) and q.in_period(_day(2023, 7, 5))
    assert not q.in_period(_day(2023, 8, 20)) and not q.in_period(_day(2023, 1, 10))
    assert analyze("What may she do in late May?").months == (5,)
    assert not analyze("What may she do?").dated and analyze("camping in June 2023").months == ()


def test_by_default_the_memory_written_in_the_month_named_comes_first(tmp_path: Path) -> None:
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:256")
    try:
        store.add("We went camping by the lake, so much fun camping", namespace=NS, created_at=_day(2023, 3, 4))
        store.add("Camping trip with the kids this weekend", namespace=NS, created_at=_day(2023, 6, 18))
        question = "When did Melanie go camping in June?"
        on = RankingConfig(neighbour_weight=0, recency_weight=0)  # date_weight on by default
        off = replace(on, date_weight=0)
        assert store.search(question, namespace=NS, ranking=off)[0].record.content.startswith("We went")
        hits = store.search(question, namespace=NS, ranking=on)
        assert hits[0].record.content.startswith("Camping trip")
        assert any(r.signal == "time" for r in hits[0].reasons)
    finally:
        store.close()
