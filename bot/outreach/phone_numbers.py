"""Phone numbers as people write them and as spreadsheets export them: an organizer's upload
of opted-in members' numbers is read here, cell by cell, before anything is queued.

Reasons name what is wrong with a number, never the number itself.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

_SCIENTIFIC = re.compile(r"^\d(?:[.,]\d+)?[eE]\+?\d+$")  # Excel's 1.30556E+10
_HEADER_NAMES = frozenset(
    {
        "phone",
        "phones",
        "phone number",
        "phonenumber",
        "number",
        "mobile",
        "mobile number",
        "mobile phone",
        "cell",
        "cell phone",
        "cellphone",
        "telephone",
        "tel",
        "telefono",
        "numero",
        "numero de telefono",
        "celular",
        "movil",
        "nimewo",
        "nimewo telefon",
        "telefon",
        "whatsapp",
    }
)


class InvalidNumber(ValueError):
    """A number that cannot be texted; the message is a reason that never repeats the number."""


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "no area code",
}


def normalize_number(raw: str, region: str) -> str:
    """E.164 form of a number as people write it, or InvalidNumber with the reason."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("no number")
    if _SCIENTIFIC.match(text):
        raise InvalidNumber(
            "written in scientific notation by a spreadsheet (digits are lost): format the "
            "column as text and export again"
        )
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidNumber(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(_POSSIBLE_REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid number in its country (area code or range)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def decode_upload(data: bytes) -> str:
    """Text of an upload: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode
    text"), else Windows-1252 (Excel's "CSV" on Windows)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def delimiter_of(text: str) -> str:
    """The separator of the first non-blank line: comma, semicolon (Excel in many locales) or
    tab; a file of one column has none and reads the same with any."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column_name(cell: str) -> str:
    folded = unicodedata.normalize("NFKD", cell.strip().lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[_\-.:#]+", " ", folded).split())


def header_column(row: list[str]) -> int | None:
    """The phone column if `row` is a header row, else None (the row is data).

    A header names its phone column (phone, number, telefono...), or is a row without a digit
    (other names: the numbers are then in the first column).
    """
    for i, cell in enumerate(row):
        if _column_name(cell) in _HEADER_NAMES:
            return i
    if not any(ch.isdigit() for cell in row for ch in cell):
        return 0
    return None
