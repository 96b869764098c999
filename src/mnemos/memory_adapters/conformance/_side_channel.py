"""Side channels between scopes: what one scope stores cannot be read from the scores
and reasons of a search in another.

A keyword score built from store-wide statistics (how many records hold a word,
their mean length) moves when another tenant stores documents with the same
words, so a tenant could learn which words others store by watching its own
scores. An adapter declaring ``keyword_search`` must take those statistics
from what the search can see. Adapters that switch to store-wide statistics
(``RankingConfig(keyword_statistics="store")``, native and PostgreSQL) are
also checked the other way: there the scores do move, which shows the
scenario can detect a leak.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar, Literal

import pytest

from mnemos.memory_adapters._ranking import RankingConfig
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores

__all__ = ["SideChannelTests"]

_NOW = datetime(2030, 1, 1, tzinfo=UTC)
_QUERIES = ("lighthouse", "lighthouse keeper", "keeper storm logbook", "What pets does the keeper have?")
"""Keyword questions, and a list question (native and PostgreSQL answer it through the
typed items of the scope too: another scope holding the same items must not show)."""
Fingerprint = list[tuple[str, float, list[tuple[str, float, float, str]]]]


def _fingerprint(store: BaseMemoryAdapter, query: str) -> Fingerprint:
    return [
        (hit.record.id, hit.score, [(r.signal, r.value, r.contribution, r.detail) for r in hit.reasons])
        for hit in store.search(query, limit=10)
    ]


class SideChannelTests(ConformanceBase):
    """Keyword statistics are per scope."""

    keyword_ranking: ClassVar[str | None] = None
    """The ranking function the adapter's keyword reasons name in their detail
    (``"bm25"`` for native and PostgreSQL); None leaves the detail unchecked."""

    def _leak_scenario(
        self, stores: Stores, statistics: Literal["scope", "store"] | None
    ) -> tuple[BaseMemoryAdapter, dict[str, Fingerprint], dict[str, Fingerprint]]:
        """Alice's search fingerprints before and after Bob stores 900 documents with
        her words (``statistics``: the ``keyword_statistics`` to search with, or None
        for the adapter's own ranking)."""
        root = stores.open(clock=(lambda: _NOW) if self.accepts_clock else None)
        self.needs(root, Capability.KEYWORD_SEARCH)
        alice = root.scoped("users", "alice")
        if statistics is not None:
            ranking = getattr(alice, "ranking", None)
            if not isinstance(ranking, RankingConfig):
                pytest.skip(f"{root.name!r} has no RankingConfig whose keyword_statistics could be switched")
            alice.ranking = replace(ranking, keyword_statistics=statistics)  # type: ignore[attr-defined]
        alice.add("the lighthouse keeper rows out at dawn", namespace=("notes",))
        alice.add("a lighthouse lighthouse on the cliff, painted red and white, very old", namespace=("notes",))
        alice.add("the keeper's logbook mentions a storm", namespace=("notes",))
        alice.add("bread, milk and lighthouse-shaped biscuits", namespace=("shopping",))
        alice.add("the keeper's parrot and our kitten watch the sea", namespace=("notes",))
        before = {q: _fingerprint(alice, q) for q in _QUERIES}
        bob = root.scoped("users", "bob")
        bob.add_many(
            [{"content": f"lighthouse {'x ' * (i % 40)}number {i}", "namespace": ("spam",)} for i in range(600)]
            + [{"content": f"keeper {i}", "namespace": ("spam",)} for i in range(300)]
            + [{"content": f"a parrot and a kitten {i}", "namespace": ("notes",)} for i in range(100)]
        )
        after = {q: _fingerprint(alice, q) for q in _QUERIES}
        return alice, before, after

    def test_reasons_in_one_scope_ignore_what_another_scope_stores(self, stores: Stores) -> None:
        alice, before, after = self._leak_scenario(stores, None)
        assert after == before, "another scope's documents changed this scope's scores or reasons"
        keyword = [r for hit in alice.search("lighthouse") for r in hit.reasons if r.signal == "keyword"]
        assert keyword, "a search for a stored word reported no keyword reason"
        if self.keyword_ranking is not None:
            assert all(self.keyword_ranking in r.detail for r in keyword)

    def test_store_wide_keyword_statistics_would_show_another_scope(self, stores: Stores) -> None:
        """The control: with statistics over the whole store the same scenario does
        change this scope's scores, so the test above can fail."""
        _alice, before, after = self._leak_scenario(stores, "store")
        assert after != before

    def test_a_change_stamp_moves_for_its_own_scope_only(self, stores: Stores) -> None:
        """``change_stamp`` is None (promises nothing), or it moves on every change in its
        scope and on none in another scope."""
        root = stores.open(clock=(lambda: _NOW) if self.accepts_clock else None)
        alice, bob = root.scoped("users", "alice"), root.scoped("users", "bob")
        mine = alice.add("Reply in French.", namespace=("rules",), kind="procedural")
        stamp = alice.change_stamp("procedural")
        if stamp is None:
            return
        bob.add("Reply in German.", namespace=("rules",), kind="procedural")
        theirs = bob.add("Reply in Dutch.", namespace=("rules",), kind="procedural")
        if bob.supports(Capability.UPDATE):
            bob.update(theirs.id, metadata={"note": "edited"})
        if bob.supports(Capability.DELETE):
            bob.delete(theirs.id)
        assert alice.change_stamp("procedural") == stamp, "another scope's writes moved this scope's stamp"
        alice.add("Reply briefly.", namespace=("rules",), kind="procedural")
        assert alice.change_stamp("procedural") != stamp, "a write in this scope did not move its stamp"
        if alice.supports(Capability.DELETE):
            stamp = alice.change_stamp("procedural")
            alice.delete(mine.id)
            assert alice.change_stamp("procedural") != stamp, "a delete in this scope did not move its stamp"
