"""The ABA routing number check digit (payouts/aba.py): weights 3, 7, 1 over nine digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.payouts.aba import aba_check_digit, aba_valid

EIGHT = st.text(alphabet="0123456789", min_size=8, max_size=8)


@pytest.mark.parametrize("routing", ["011000015", "021000021", "091000019", "026009593",
                                     "111000025", "122000247"])
def test_real_routing_numbers_are_valid(routing: str) -> None:
    assert aba_valid(routing)


@pytest.mark.parametrize("routing", ["011000016", "021000012", "123456789", "", "12345678",
                                     "0110000150", "01100001a", " 11000015", "\uff1011000015",
                                     "01100001\u0665"])
def test_wrong_digit_length_or_characters_are_invalid(routing: str) -> None:
    assert not aba_valid(routing)


@given(EIGHT)
def test_the_check_digit_completes_any_eight_digits(first8: str) -> None:
    assert aba_valid(first8 + aba_check_digit(first8))


@given(EIGHT, st.integers(0, 8), st.integers(1, 9))
def test_any_single_digit_change_is_caught(first8: str, position: int, shift: int) -> None:
    """3, 7 and 1 are prime to 10, so changing one digit always changes the sum mod 10."""
    good = first8 + aba_check_digit(first8)
    changed = good[:position] + str((int(good[position]) + shift) % 10) + good[position + 1:]
    assert not aba_valid(changed)


@given(EIGHT)
def test_exactly_one_ninth_digit_is_valid(first8: str) -> None:
    assert sum(aba_valid(first8 + digit) for digit in "0123456789") == 1


@given(st.text(max_size=12))
def test_anything_but_nine_ascii_digits_is_invalid(text: str) -> None:
    if not (len(text) == 9 and text.isascii() and text.isdigit()):
        assert not aba_valid(text)
    else:
        assert aba_valid(text) == (aba_check_digit(text[:8]) == text[8])


def test_check_digit_refuses_anything_but_eight_digits() -> None:
    with pytest.raises(ValueError, match="eight"):
        aba_check_digit("1234567")
