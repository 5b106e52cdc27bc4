"""ACH payouts as a NACHA file: the 94-character fixed-width text an admin takes to the bank.

No well-kept Python NACHA writer exists, so this is a small one, pure (no settings, no clock):
one file, one PPD batch of credits (service class 220), no addenda.

Records (positions 1-based, as the NACHA Operating Rules number them):

    1 file header     1 type "1" | 2-3 priority "01" | 4-13 immediate destination " "+ODFI
                      routing | 14-23 immediate origin (company id) | 24-29 YYMMDD |
                      30-33 HHMM | 34 file id modifier | 35-37 "094" | 38-39 "10" | 40 "1" |
                      41-63 destination name | 64-86 origin name | 87-94 reference code
    5 batch header    1 "5" | 2-4 "220" | 5-20 company name | 21-40 discretionary data |
                      41-50 company id | 51-53 "PPD" | 54-63 entry description |
                      64-69 descriptive date | 70-75 effective entry date YYMMDD |
                      76-78 settlement date (blank, the ACH operator's) | 79 originator status "1" |
                      80-87 ODFI | 88-94 batch number
    6 entry detail    1 "6" | 2-3 transaction code (22 checking / 32 savings credit) |
                      4-11 RDFI routing (8) | 12 check digit | 13-29 account number (left, 17) |
                      30-39 amount in cents | 40-54 individual id | 55-76 individual name |
                      77-78 discretionary data | 79 addenda indicator "0" | 80-94 trace number
                      (ODFI 8 digits + 7-digit sequence)
    8 batch control   1 "8" | 2-4 "220" | 5-10 entry/addenda count | 11-20 entry hash |
                      21-32 total debits | 33-44 total credits | 45-54 company id |
                      55-73 message authentication code (blank) | 74-79 reserved |
                      80-87 ODFI | 88-94 batch number
    9 file control    1 "9" | 2-7 batch count | 8-13 block count | 14-21 entry/addenda count |
                      22-31 entry hash | 32-43 total debits | 44-55 total credits | 56-94 reserved

The file is padded with all-'9' records to a multiple of 10 lines (blocking factor 10).
Alphanumeric fields are left-justified and space-padded, numeric ones right-justified and
zero-padded; text is transliterated to uppercase ASCII (accents removed, other characters
dropped) and truncated to its field. Numbers that do not fit (an account number over 17
characters, an amount over 10 digits) are refused, never truncated: a cut account number
would send the money elsewhere; every routing number must pass the ABA check digit
(payouts.aba). The entry hash is the sum of the 8-digit RDFI routing
numbers, keeping its last 10 digits.
"""

from __future__ import annotations

import enum
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from skinstack.payouts.aba import aba_valid

if TYPE_CHECKING:
    from skinstack.config import Settings

RECORD_SIZE = 94
BLOCKING_FACTOR = 10
SERVICE_CLASS_CREDITS = "220"
SEC_CODE = "PPD"
_ACCOUNT_NUMBER = re.compile(r"[0-9A-Za-z-]{1,17}")


class AccountType(enum.StrEnum):
    checking = "checking"
    savings = "savings"


_CREDIT_CODES = {AccountType.checking: "22", AccountType.savings: "32"}


@dataclass(frozen=True)
class Originator:
    """Us, as the bank knows us (the ACH_* settings)."""

    origin_routing: str
    """The originating bank's (ODFI's) nine-digit routing number; the file goes to it."""
    destination_name: str
    """The originating bank's name (the file header's immediate destination name)."""
    company_id: str
    """Our company identification with the bank (10 characters)."""
    company_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Originator:
        return cls(
            origin_routing=settings.ach_origin_routing,
            destination_name=settings.ach_destination_name,
            company_id=settings.ach_company_id,
            company_name=settings.ach_company_name,
        )


@dataclass(frozen=True)
class Entry:
    """One credit to one influencer's bank account."""

    payout_id: uuid.UUID
    receiver_name: str
    routing_number: str
    account_number: str
    account_type: AccountType
    amount: int
    """Cents, > 0."""


class NachaError(ValueError):
    """The file cannot be written as asked (a bad routing number, an amount too large…)."""


def ascii_upper(text: str) -> str:
    """Uppercase printable ASCII: accents removed (É → E), other characters dropped, runs of
    spaces made one and the ends trimmed."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if " " <= c <= "~")
    return " ".join(kept.split()).upper()


def _alpha(text: str, width: int) -> str:
    return ascii_upper(text)[:width].ljust(width)


def _num(value: int, width: int, what: str) -> str:
    if value < 0 or value >= 10**width:
        raise NachaError(f"{what} {value} does not fit in {width} digits")
    return str(value).rjust(width, "0")


def individual_id(payout_id: uuid.UUID) -> str:
    """The entry's individual identification number: the payout id's first 15 hex digits.

    Enough to find the payout again (60 bits); a bank return carries it back.
    """
    return payout_id.hex[:15].upper()


def trace_number(origin_routing: str, sequence: int) -> str:
    """The n-th entry's trace number: the ODFI's first eight digits and the 7-digit sequence
    (the payout's reference, given when its batch is sent)."""
    return origin_routing[:8] + _num(sequence, 7, "entry sequence")


def entry_hash(routings: Sequence[str]) -> int:
    """Sum of the 8-digit RDFI routing numbers (without check digit), last 10 digits kept."""
    return sum(int(r[:8]) for r in routings) % 10**10


def write_file(
    originator: Originator,
    entries: Sequence[Entry],
    *,
    created_at: datetime,
    file_id_modifier: str,
    effective_date: date,
    entry_description: str = "PAYOUT",
    batch_number: int = 1,
) -> str:
    """The NACHA file paying `entries`: records joined by '\\n', with a final '\\n'."""
    if not aba_valid(originator.origin_routing):
        raise NachaError("the originating routing number is not a valid ABA routing number")
    if not re.fullmatch(r"[A-Z0-9]", file_id_modifier):
        raise NachaError("the file id modifier is one of A-Z or 0-9")
    if not entries:
        raise NachaError("a NACHA file needs at least one entry")
    odfi = originator.origin_routing[:8]
    company_id = _alpha(originator.company_id, 10)
    batch_no = _num(batch_number, 7, "batch number")

    lines = [
        "1"
        + "01"
        + " " + originator.origin_routing
        + company_id
        + created_at.strftime("%y%m%d")
        + created_at.strftime("%H%M")
        + file_id_modifier
        + "094"
        + "10"
        + "1"
        + _alpha(originator.destination_name, 23)
        + _alpha(originator.company_name, 23)
        + " " * 8,
        "5"
        + SERVICE_CLASS_CREDITS
        + _alpha(originator.company_name, 16)
        + " " * 20
        + company_id
        + SEC_CODE
        + _alpha(entry_description, 10)
        + " " * 6
        + effective_date.strftime("%y%m%d")
        + " " * 3
        + "1"
        + odfi
        + batch_no,
    ]
    total_credit = 0
    for sequence, entry in enumerate(entries, start=1):
        if not aba_valid(entry.routing_number):
            raise NachaError(f"payout {entry.payout_id}: invalid routing number")
        if not _ACCOUNT_NUMBER.fullmatch(entry.account_number):
            raise NachaError(f"payout {entry.payout_id}: the account number is 1-17 letters/digits")
        if entry.amount <= 0:
            raise NachaError(f"payout {entry.payout_id}: the amount must be positive")
        total_credit += entry.amount
        lines.append(
            "6"
            + _CREDIT_CODES[AccountType(entry.account_type)]
            + entry.routing_number  # 8-digit RDFI identification + check digit
            + entry.account_number.upper().ljust(17)
            + _num(entry.amount, 10, "amount")
            + individual_id(entry.payout_id)
            + _alpha(entry.receiver_name, 22)
            + "  "
            + "0"
            + trace_number(originator.origin_routing, sequence)
        )
    count = len(entries)
    hash_ = entry_hash([e.routing_number for e in entries])
    lines.append(
        "8"
        + SERVICE_CLASS_CREDITS
        + _num(count, 6, "entry count")
        + _num(hash_, 10, "entry hash")
        + _num(0, 12, "total debits")
        + _num(total_credit, 12, "total credits")
        + company_id
        + " " * 19
        + " " * 6
        + odfi
        + batch_no
    )
    records = len(lines) + 1  # with the file control
    blocks = -(-records // BLOCKING_FACTOR)
    lines.append(
        "9"
        + _num(1, 6, "batch count")
        + _num(blocks, 6, "block count")
        + _num(count, 8, "entry count")
        + _num(hash_, 10, "entry hash")
        + _num(0, 12, "total debits")
        + _num(total_credit, 12, "total credits")
        + " " * 39
    )
    lines.extend(["9" * RECORD_SIZE] * (blocks * BLOCKING_FACTOR - records))
    assert all(len(line) == RECORD_SIZE for line in lines)
    return "\n".join(lines) + "\n"
