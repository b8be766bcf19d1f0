from __future__ import annotations

import pytest

from ragplatform.retrieval.citations import CitationFilter, cited_numbers


def test_cited_numbers_in_order_without_repeats() -> None:
    assert cited_numbers("a [2] b [1, 3] c [2]") == [2, 1, 3]
    assert cited_numbers("no markers [x] [] [1234]") == []


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (["Fact [1]. Other [7]."], "Fact [1]. Other ."),
        (["Grouped [1, 2, 9]."], "Grouped [1][2]."),
        (["Split [", "2", "] done"], "Split [2] done"),
        (["Split [", "9", "] gone"], "Split  gone"),
        (["Brackets [a] stay", " [x]"], "Brackets [a] stay [x]"),
        (["Trailing ["], "Trailing ["),
        (["Dup [1,1]"], "Dup [1]"),
    ],
)
def test_stream_keeps_only_valid_markers(deltas: list[str], expected: str) -> None:
    citations = CitationFilter({1, 2, 3})
    out = "".join(citations.feed(d) for d in deltas) + citations.flush()
    assert out == expected


def test_a_possible_marker_is_held_until_complete() -> None:
    citations = CitationFilter({1})
    assert citations.feed("Text [") == "Text "
    assert citations.feed("1") == ""
    assert citations.feed("] more") == "[1] more"
