"""ABA routing numbers: nine digits whose weighted sum (3, 7, 1, repeated) is a multiple of 10."""

from __future__ import annotations

WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def aba_checksum(digits: str) -> int:
    """The weighted sum mod 10 of nine ASCII digits (0 for a valid routing number)."""
    return sum(w * int(d) for w, d in zip(WEIGHTS, digits, strict=True)) % 10


def aba_check_digit(first8: str) -> str:
    """The ninth digit that makes `first8` a valid routing number."""
    if len(first8) != 8 or not first8.isascii() or not first8.isdigit():
        raise ValueError("eight ASCII digits expected")
    partial = sum(w * int(d) for w, d in zip(WEIGHTS[:8], first8, strict=True))
    return str(-partial % 10)


def aba_valid(routing: str) -> bool:
    """True for exactly nine ASCII digits with a correct check digit (weights 3, 7, 1)."""
    if len(routing) != 9 or not routing.isascii() or not routing.isdigit():
        return False
    return aba_checksum(routing) == 0
