"""The kernel's duplicate-intent memory (``RecentIds``) against a plain model: the last
``limit`` distinct ids, oldest first; an id seen again is not moved."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dita.kernel.state import RecentIds


@given(limit=st.integers(1, 8), ids=st.lists(st.sampled_from("abcdefghijkl"), max_size=60))
def test_recent_ids_are_the_last_distinct_ids_oldest_first(limit: int, ids: list[str]) -> None:
    r = RecentIds(limit)
    model: list[str] = []
    for i in ids:
        r.add(i)
        if i not in model:
            model.append(i)
            del model[:-limit]
        assert list(r) == model
        assert len(r) == len(model) <= limit
        assert all((x in r) == (x in model) for x in "abcdefghijkl")
    assert RecentIds(limit, ids) == r  # rebuilt from the same ids (a snapshot): equal
