"""Long answers cut at the channel's limit, on paragraph, line and word boundaries."""

from __future__ import annotations

import pytest

from moco.gateway import split_message


def test_a_short_text_is_one_piece() -> None:
    assert split_message("  hello there \n", 100) == ["hello there"]


def test_paragraphs_are_preferred_to_lines_and_lines_to_words() -> None:
    text = "first paragraph here\n\nsecond one\nwith two lines"
    assert split_message(text, 30) == ["first paragraph here", "second one\nwith two lines"]
    assert split_message("alpha beta\ngamma delta epsilon", 20) == [
        "alpha beta", "gamma delta epsilon"]


def test_words_are_never_cut_unless_one_is_longer_than_the_limit() -> None:
    text = " ".join(f"word{n}" for n in range(100))
    pieces = split_message(text, 33)
    assert all(len(piece) <= 33 for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    assert split_message("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        split_message("text", 0)
