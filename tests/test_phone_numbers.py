"""Invitation lists as members' numbers are really written: Mexico's pre-2019 forms, and the
forms of the countries the coalition's members come from (Haiti, Cuba, Venezuela, Central
America). What is still refused says why, never repeating the number."""

from __future__ import annotations

import re

import pytest

from bot.outreach.invitations import describe_check, parse_invitation_csv
from bot.outreach.phone_numbers import InvalidNumber, normalize_number

# Mexico City (55), Guadalajara (33) and Puebla (222) numbers as members wrote them before
# August 2019, and today's form of each: +52 and the same ten digits.
MEXICO_BEFORE_2019 = [
    ("+52 1 55 1234 5678", "+525512345678"),  # a mobile dialled from abroad
    ("+521 55 1234 5678", "+525512345678"),
    ("+52-1-33-1234-5678", "+523312345678"),
    ("+52 (1) 222 123 4567", "+522221234567"),
    ("044 55 1234 5678", "+525512345678"),  # a mobile dialled locally
    ("045 33 1234 5678", "+523312345678"),  # a mobile dialled long distance
    ("01 55 1234 5678", "+525512345678"),  # a landline dialled long distance
    ("01 (222) 123-4567", "+522221234567"),
    ("00 52 1 55 1234 5678", "+525512345678"),  # +52 1 dialled with the international 00
    ("011 52 1 55 1234 5678", "+525512345678"),  # ... or with 011 from the US
    ("+52 55 1234 5678", "+525512345678"),  # today's forms stay as they were
    ("011 52 33 1234 5678", "+523312345678"),
]


@pytest.mark.parametrize(("raw", "e164"), MEXICO_BEFORE_2019)
@pytest.mark.parametrize("region", ["US", "MX"])
def test_mexican_numbers_in_pre_2019_forms_become_todays_e164(raw, e164, region):
    assert normalize_number(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("55 1234 5678", "+525512345678"),
        ("521 55 1234 5678", "+525512345678"),  # 52 1 without the plus
        ("1 55 1234 5678", "+525512345678"),  # the mobile 1 alone
        ("044 55 1234 5678", "+525512345678"),
    ],
)
def test_a_mexican_upload_reads_national_forms(raw, e164):
    assert normalize_number(raw, "MX") == e164


# Each country as its members write their numbers: with the country code (any upload), and
# in the national form (an upload whose country is that one).
COUNTRIES = {
    "HT": ("+509", [("3412 3456", "+50934123456"), ("(509) 3412-3456", "+50934123456")]),
    "CU": ("+53", [("5 123 4567", "+5351234567"), ("05 1234567", "+5351234567")]),
    "VE": ("+58", [("0412-123-4567", "+584121234567"), ("412 1234567", "+584121234567")]),
    "GT": ("+502", [("5123 4567", "+50251234567"), ("5123-4567", "+50251234567")]),
    "SV": ("+503", [("7012 3456", "+50370123456"), ("7012-3456", "+50370123456")]),
    "HN": ("+504", [("9123-4567", "+50491234567")]),
    "NI": ("+505", [("8123 4567", "+50581234567")]),
    "CR": ("+506", [("8312 3456", "+50683123456")]),
    "PA": ("+507", [("6123-4567", "+50761234567"), ("6123 4567", "+50761234567")]),
}


@pytest.mark.parametrize("country", sorted(COUNTRIES))
def test_each_countrys_numbers_with_and_without_its_code(country):
    code, national = COUNTRIES[country]
    for raw, e164 in national:
        assert normalize_number(raw, country) == e164
        subscriber = e164.removeprefix(code)
        for written in (f"{code} {subscriber}", f"00{code[1:]} {subscriber}"):
            assert normalize_number(written, "US") == e164
        assert normalize_number(f"011 {code[1:]} {subscriber}", "US") == e164
        assert normalize_number(f"{code} {subscriber}", "MX") == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        # A national form read in another country's upload: refused, with what to do.
        ("3412 3456", "US", "too short for a number of the upload's country (US)"),
        ("0412-123-4567", "US", "too long for a number of the upload's country (US)"),
        ("5123 4567", "MX", "no area code"),  # Mexico City's old 8-digit local form
        # A country code without + (or 00, 011) is not guessed: a US number with one digit
        # too many would otherwise be texted to a stranger abroad.
        ("509 3412 3456", "US", "too long for a number of the upload's country (US)"),
        ("502 5123 4567", "US", "too long for a number of the upload's country (US)"),
        # A toll-free number is no member's phone, in any form.
        ("01 800 123 4567", "US", "a toll-free number"),
        ("+1 800 555 0100", "US", "a toll-free number"),
        ("+52 1 55 1234", "US", "no area code"),  # digits missing
        ("12", "US", "too short"),
        ("call me", "US", "not a phone number"),
    ],
)
def test_what_is_still_refused_says_why(raw, region, reason):
    with pytest.raises(InvalidNumber) as refused:
        normalize_number(raw, region)
    assert reason in str(refused.value)
    assert not re.search(r"\d", str(refused.value)), "a reason never repeats the number"


def test_the_check_an_organizer_reads_names_each_reason():
    data = (
        "Nombre,Teléfono\r\n"
        "Ana,+52 1 55 1234 5678\r\n"  # line 2: today's +52 55...
        "Bo,044 55 1234 5678\r\n"  # line 3: the same person: a duplicate
        "Cy,3412 3456\r\n"  # line 4: Haitian, without +509, in a US upload
        "Di,+509 3412 3456\r\n"  # line 5
        "Ed,01 800 123 4567\r\n"  # line 6: toll-free
    ).encode()
    check = parse_invitation_csv(data, default_region="US")
    assert check.valid == ["+525512345678", "+50934123456"]
    assert check.duplicates == 1
    lines = describe_check(check)
    assert lines[1] == (
        "  line 4: too short for a number of the upload's country (US); write a number of "
        "another country with + and its country code"
    )
    assert lines[2] == (
        "  line 6: a toll-free number: not a member's phone, texts do not reach a person"
    )
