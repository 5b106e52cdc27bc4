"""Problem document or page (kit/negotiation.py): by the Accept header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.kit.negotiation import accept_of, prefers_problem

CHROME = b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
FIREFOX = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # and Safari


@pytest.mark.parametrize(("accept", "problem"), [
    (None, True), (b"", True), (b"*/*", True),
    (b"application/json", True), (b"application/problem+json", True),
    (b"application/json, text/plain, */*", True),  # axios
    (b"application/*", True), (b"Application/JSON", True),
    (CHROME, False), (FIREFOX, False),
    (b"text/html", False), (b"text/*", False),
    (b"application/json;q=0.5, text/html", False),
    (b"text/html;q=0.5, application/json", True),
    (b"*/*, application/json;q=0", False),  # refuses JSON outright
    (b"image/png", False),  # neither is acceptable: the page, as before
    (b"application/json;q=abc", True),  # an unreadable weight counts as 1
    (b"text/html;q=2, application/json;q=0.9", False),  # and so does one out of range
])
def test_who_gets_the_problem_document(accept: bytes | None, problem: bool) -> None:
    assert prefers_problem(accept, b"text/html") is problem


def test_against_plain_text() -> None:
    assert prefers_problem(FIREFOX, b"text/plain")  # both only through */*: the contract's
    assert not prefers_problem(b"text/plain", b"text/plain")


qualities = st.sampled_from(["", ";q=1", ";q=0.9", ";q=0.5", ";q=0.001", ";q=0"])


@given(qualities, qualities)
def test_the_higher_quality_wins_and_a_tie_goes_to_the_problem_document(json: str,
                                                                       html: str) -> None:
    def quality(text: str) -> float:
        return float(text[3:]) if text else 1.0

    accept = f"application/json{json}, text/html{html}".encode()
    expected = quality(json) > 0 and quality(json) >= quality(html)
    assert prefers_problem(accept, b"text/html") is expected


def test_accept_lines_are_read_together() -> None:
    headers = [(b"accept", b"text/html;q=0.1"), (b"user-agent", b"x"),
               (b"accept", b"application/json")]
    assert accept_of(headers) == b"text/html;q=0.1,application/json"
    assert prefers_problem(accept_of(headers), b"text/html")
