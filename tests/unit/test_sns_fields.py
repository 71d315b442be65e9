"""What SNS is sent is always something SNS accepts: subjects and FIFO ids, for any text."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sqlsentinel.notifications.sns import fifo_id, sns_subject

ID_CHARACTERS = set(string.ascii_letters + string.digits + string.punctuation)


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("[FIRING] orders is FIRING: 3", "[FIRING] orders is FIRING: 3"),
        ("Café in Zürich — ≥ 10 € … ß", "Cafe in Zurich - >= 10 EUR ... ss"),
        ("line one\nline two\r\n\tend\x00\x7f", "line one line two end"),
        ("  leading spaces go", "leading spaces go"),
        ("売上 is FIRING", "? is FIRING"),
        ("", "sqlsentinel notification"),
    ],
)
def test_a_subject_is_transliterated_to_one_printable_ascii_line(text: str, subject: str) -> None:
    assert sns_subject(text) == subject


def test_a_long_subject_is_cut_to_100_characters_with_an_ellipsis() -> None:
    subject = sns_subject("disk usage high on " + "replica-node " * 20)
    assert len(subject) <= 100
    assert subject.startswith("disk usage high on replica-node replica-node")
    assert subject.endswith("...")
    assert sns_subject("x" * 100) == "x" * 100
    assert sns_subject("x" * 101) == "x" * 97 + "..."


@given(st.text())
def test_any_text_becomes_a_subject_sns_accepts(text: str) -> None:
    subject = sns_subject(text)
    assert 0 < len(subject) <= 100
    assert all(" " <= char <= "~" for char in subject)
    assert subject[0] != " "


def test_a_valid_fifo_id_is_kept_as_it_is() -> None:
    key = "orders_stalled:2026-03-04T10:15:00Z:FIRING"
    assert fifo_id(key) == key


def test_an_id_with_spaces_or_non_ascii_is_percent_encoded() -> None:
    assert fifo_id("orders stalled in Zürich") == "orders%20stalled%20in%20Z%C3%BCrich"


def test_an_id_too_long_is_cut_and_keeps_a_hash_of_the_whole() -> None:
    first, second = fifo_id("a" * 200), fifo_id("a" * 199 + "b")
    assert len(first) == len(second) == 128
    assert first != second


@given(st.text(min_size=1))  # alert names and idempotency keys are never empty
def test_any_text_becomes_a_stable_fifo_id_sns_accepts(text: str) -> None:
    value = fifo_id(text)
    assert 0 < len(value) <= 128
    assert set(value) <= ID_CHARACTERS
    assert fifo_id(text) == value
