"""The NACHA writer: a golden file checked field by field, and the rules as properties."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skinstack.payouts.aba import aba_check_digit
from skinstack.payouts.nacha import (
    AccountType,
    Entry,
    NachaError,
    Originator,
    ascii_upper,
    write_file,
)

GOLDEN = Path(__file__).parent / "golden" / "payouts_2026_12.ach"

ORIGINATOR = Originator(
    origin_routing="091000019",
    destination_name="First Bank of Testing Long Name",
    company_id="1234567890",
    company_name="SkinStack Affiliates Inc",
)
ENTRIES = [
    Entry(uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), "José Ñúñez", "021000021",
          "12345678", AccountType.checking, 1234),
    Entry(uuid.UUID("11111111-2222-3333-4444-555555555555"),
          "Zoë O'Brien-Šimić the Third Esq.", "011000015", "000987654321ABCDE",
          AccountType.savings, 500000),
    Entry(uuid.UUID("abcdefab-cdef-abcd-efab-cdefabcdefab"), "李 Wei Chen", "122105155", "77-1",
          AccountType.checking, 1),
]


def golden_file() -> str:
    return write_file(ORIGINATOR, ENTRIES, created_at=datetime(2026, 12, 2, 9, 30),
                      file_id_modifier="A", effective_date=date(2026, 12, 3))


def field(line: str, start: int, end: int) -> str:
    """Positions as the NACHA rules number them: 1-based, both ends included."""
    return line[start - 1:end]


def test_the_file_equals_the_hand_checked_sample() -> None:
    assert golden_file() == GOLDEN.read_text()


def test_the_sample_field_by_field() -> None:
    lines = GOLDEN.read_text().split("\n")
    assert lines[-1] == ""  # ends with a newline
    lines = lines[:-1]
    assert len(lines) == 10 and all(len(line) == 94 for line in lines)

    header = lines[0]
    assert field(header, 1, 1) == "1"
    assert field(header, 2, 3) == "01"
    assert field(header, 4, 13) == " 091000019"
    assert field(header, 14, 23) == "1234567890"
    assert field(header, 24, 29) == "261202"
    assert field(header, 30, 33) == "0930"
    assert field(header, 34, 34) == "A"
    assert field(header, 35, 37) == "094"
    assert field(header, 38, 39) == "10"
    assert field(header, 40, 40) == "1"
    assert field(header, 41, 63) == "FIRST BANK OF TESTING L"  # cut to 23
    assert field(header, 64, 86) == "SKINSTACK AFFILIATES IN"
    assert field(header, 87, 94) == " " * 8

    batch = lines[1]
    assert field(batch, 1, 1) == "5"
    assert field(batch, 2, 4) == "220"
    assert field(batch, 5, 20) == "SKINSTACK AFFILI"  # cut to 16
    assert field(batch, 21, 40) == " " * 20
    assert field(batch, 41, 50) == "1234567890"
    assert field(batch, 51, 53) == "PPD"
    assert field(batch, 54, 63) == "PAYOUT    "
    assert field(batch, 64, 69) == " " * 6
    assert field(batch, 70, 75) == "261203"
    assert field(batch, 76, 78) == "   "
    assert field(batch, 79, 79) == "1"
    assert field(batch, 80, 87) == "09100001"
    assert field(batch, 88, 94) == "0000001"

    expected = [
        # code, RDFI, check, account, amount, individual id, name, trace sequence
        ("22", "02100002", "1", "12345678         ", "0000001234", "0F1E2D3C4B5A697",
         "JOSE NUNEZ            ", "0000001"),
        ("32", "01100001", "5", "000987654321ABCDE", "0000500000", "111111112222333",
         "ZOE O'BRIEN-SIMIC THE ", "0000002"),
        ("22", "12210515", "5", "77-1             ", "0000000001", "ABCDEFABCDEFABC",
         "WEI CHEN              ", "0000003"),
    ]
    for line, (code, rdfi, check, account, amount, ident, name, seq) in zip(
            lines[2:5], expected, strict=True):
        assert field(line, 1, 1) == "6"
        assert field(line, 2, 3) == code
        assert field(line, 4, 11) == rdfi
        assert field(line, 12, 12) == check
        assert field(line, 13, 29) == account
        assert field(line, 30, 39) == amount
        assert field(line, 40, 54) == ident
        assert field(line, 55, 76) == name
        assert field(line, 77, 78) == "  "
        assert field(line, 79, 79) == "0"
        assert field(line, 80, 94) == "09100001" + seq

    # 02100002 + 01100001 + 12210515 = 15410518; 1234 + 500000 + 1 = 501235 cents
    control = lines[5]
    assert field(control, 1, 1) == "8"
    assert field(control, 2, 4) == "220"
    assert field(control, 5, 10) == "000003"
    assert field(control, 11, 20) == "0015410518"
    assert field(control, 21, 32) == "000000000000"
    assert field(control, 33, 44) == "000000501235"
    assert field(control, 45, 54) == "1234567890"
    assert field(control, 55, 79) == " " * 25
    assert field(control, 80, 87) == "09100001"
    assert field(control, 88, 94) == "0000001"

    file_control = lines[6]
    assert field(file_control, 1, 1) == "9"
    assert field(file_control, 2, 7) == "000001"
    assert field(file_control, 8, 13) == "000001"  # 7 records: one block of 10
    assert field(file_control, 14, 21) == "00000003"
    assert field(file_control, 22, 31) == "0015410518"
    assert field(file_control, 32, 43) == "000000000000"
    assert field(file_control, 44, 55) == "000000501235"
    assert field(file_control, 56, 94) == " " * 39

    assert lines[7:] == ["9" * 94] * 3


@pytest.mark.parametrize(("entry", "message"), [
    (Entry(uuid.uuid4(), "A", "021000022", "1", AccountType.checking, 1), "routing"),
    (Entry(uuid.uuid4(), "A", "021000021", "1" * 18, AccountType.checking, 1), "account"),
    (Entry(uuid.uuid4(), "A", "021000021", "12 34", AccountType.checking, 1), "account"),
    (Entry(uuid.uuid4(), "A", "021000021", "1", AccountType.checking, 0), "positive"),
    (Entry(uuid.uuid4(), "A", "021000021", "1", AccountType.checking, 10**10), "10 digits"),
])
def test_refuses_what_it_cannot_write_exactly(entry: Entry, message: str) -> None:
    with pytest.raises(NachaError, match=message):
        write_file(ORIGINATOR, [entry], created_at=datetime(2026, 12, 2),
                   file_id_modifier="A", effective_date=date(2026, 12, 3))


def test_refuses_an_empty_file_and_a_bad_modifier() -> None:
    with pytest.raises(NachaError, match="at least one"):
        write_file(ORIGINATOR, [], created_at=datetime(2026, 12, 2), file_id_modifier="A",
                   effective_date=date(2026, 12, 3))
    with pytest.raises(NachaError, match="modifier"):
        write_file(ORIGINATOR, ENTRIES, created_at=datetime(2026, 12, 2), file_id_modifier="a",
                   effective_date=date(2026, 12, 3))


def test_ascii_upper() -> None:
    assert ascii_upper("Ångström") == "ANGSTROM"
    assert ascii_upper("café  crème") == "CAFE CREME"
    assert ascii_upper("東京 Tokyo") == "TOKYO"


# Routing numbers: any 8 digits, completed with the check digit that makes them valid.
routings = st.text(alphabet="0123456789", min_size=8, max_size=8).map(
    lambda first8: first8 + aba_check_digit(first8))
entries = st.builds(
    Entry,
    payout_id=st.uuids(),
    receiver_name=st.text(max_size=40),
    routing_number=routings,
    account_number=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1,
                           max_size=17),
    account_type=st.sampled_from(AccountType),
    amount=st.integers(min_value=1, max_value=10**10 - 1),
)


@given(st.lists(entries, min_size=1, max_size=40), st.datetimes(), st.dates(),
       st.sampled_from("ABCXYZ0189"), st.text(max_size=30))
def test_file_properties(entry_list: list[Entry], created_at: datetime, effective: date,
                         modifier: str, description: str) -> None:
    text = write_file(ORIGINATOR, entry_list, created_at=created_at, file_id_modifier=modifier,
                      effective_date=effective, entry_description=description)
    assert text.isascii() and text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert all(len(line) == 94 for line in lines)
    assert all(line == line.upper() for line in lines)
    assert len(lines) % 10 == 0

    kinds = [line[0] for line in lines]
    n = len(entry_list)
    assert kinds[:2 + n + 2] == ["1", "5", *["6"] * n, "8", "9"]
    assert lines[2 + n + 2:] == ["9" * 94] * (len(lines) - n - 4)

    details = lines[2:2 + n]
    hash_ = sum(int(e.routing_number[:8]) for e in entry_list) % 10**10
    total = sum(e.amount for e in entry_list)
    for line, entry in zip(details, entry_list, strict=True):
        assert int(line[29:39]) == entry.amount  # cents, exact
        assert line[3:12] == entry.routing_number
        assert line[12:29].rstrip() == entry.account_number
        assert line[1:3] == ("22" if entry.account_type is AccountType.checking else "32")
    assert [int(line[87:94]) for line in details] == list(range(1, n + 1))
    assert sum(int(line[3:11]) for line in details) % 10**10 == hash_

    control, file_control = lines[2 + n], lines[3 + n]
    assert int(control[4:10]) == n
    assert int(control[10:20]) == hash_
    assert int(control[20:32]) == 0
    assert int(control[32:44]) == total
    assert int(file_control[1:7]) == 1
    assert int(file_control[7:13]) == len(lines) // 10
    assert int(file_control[13:21]) == n
    assert int(file_control[21:31]) == hash_
    assert int(file_control[43:55]) == total
