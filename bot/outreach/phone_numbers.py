"""Phone numbers as people write them and as spreadsheets export them: an organizer's upload
of opted-in members' numbers is read here, cell by cell, before anything is queued.

Reasons name what is wrong with a number, never the number itself.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

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

_NOT_VALID = "not a valid number in its country (area code or range)"
# Reasons that may mean a number of another country than the upload's, written without its
# country code: said with what to do when the cell holds enough digits to be a phone number.
_COUNTRY_REASONS = frozenset(
    {"too long", "too short", _NOT_VALID, _POSSIBLE_REASONS[ValidationResult.INVALID_LENGTH]}
)
_MIN_DIGITS_OF_A_PHONE = 7
# Numbers that are no person's phone: a text to them never reaches a member.
_NOT_PERSONAL = {
    kind: f"{name}: not a member's phone, texts do not reach a person"
    for kind, name in (
        (PhoneNumberType.TOLL_FREE, "a toll-free number"),
        (PhoneNumberType.PREMIUM_RATE, "a premium-rate number"),
        (PhoneNumberType.SHARED_COST, "a shared-cost number"),
        (PhoneNumberType.UAN, "a company's universal access number"),
        (PhoneNumberType.VOICEMAIL, "a voicemail access number"),
    )
}


# Characters people and spreadsheets put around the digits of a number.
_PUNCTUATION = re.compile(r"[\s\-().\u00a0/]+")
_DIALLED = re.compile(r"\+?[0-9]+")
# International call prefixes: 00 in most of the world (Latin America, the Caribbean,
# Europe), 011 from the US and Canada. No national number starts with them.
_INTERNATIONAL_PREFIXES = ("011", "00")
MX = "52"
MX_NATIONAL_DIGITS = 10
# Before August 2019 Mexico dialled a mobile as +52 1 + 10 digits from abroad, 044 (local) or
# 045 (long distance) + 10 digits at home, and a landline as 01 + 10 digits; since then every
# number is +52 + the same 10 digits. Address books and member lists still hold the old forms.
_MX_TRUNK_PREFIXES = ("044", "045", "01")


def _readings(text: str, region: str) -> list[str]:
    """Other ways to read `text` than phonenumbers' reading in `region`, most likely first:
    the international forms written with 00 or 011, and today's form of the Mexican numbers
    written as before 2019. Only what no number of another kind could also be."""
    compact = _PUNCTUATION.sub("", text)
    if not _DIALLED.fullmatch(compact):
        return []
    international = compact.startswith("+")
    digits = compact.lstrip("+")
    if not international:
        for prefix in _INTERNATIONAL_PREFIXES:
            if digits.startswith(prefix):
                digits, international = digits[len(prefix) :], True
                break
    if international:
        readings = [f"+{digits}"]
        rest = digits.removeprefix(MX)
        if digits.startswith(MX + "1") and len(rest) == MX_NATIONAL_DIGITS + 1:
            readings.insert(0, f"+{MX}{rest[1:]}")  # +52 1 + 10 digits: an old mobile form
        return readings
    for prefix in _MX_TRUNK_PREFIXES:
        if digits.startswith(prefix) and len(digits) == len(prefix) + MX_NATIONAL_DIGITS:
            return [f"+{MX}{digits[len(prefix) :]}"]
    if region == "MX":  # the mobile 1 with or without 52, written without the plus
        for prefix in (MX + "1", "1"):
            if digits.startswith(prefix) and len(digits) == len(prefix) + MX_NATIONAL_DIGITS:
                return [f"+{MX}{digits[len(prefix) :]}"]
    return []


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber:
    """The number phonenumbers reads, or InvalidNumber with the reason."""
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidNumber(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(_POSSIBLE_REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(_NOT_VALID)
    not_personal = _NOT_PERSONAL.get(phonenumbers.number_type(parsed))
    if not_personal is not None:
        raise InvalidNumber(not_personal)
    return parsed


def _explained(reason: str, text: str, region: str) -> str:
    """A reason, with what to do when the number was read as one of `region`'s."""
    digits = sum(ch.isdigit() for ch in text)
    if text.startswith("+") or reason not in _COUNTRY_REASONS or digits < _MIN_DIGITS_OF_A_PHONE:
        return reason
    return (
        f"{reason} for a number of the upload's country ({region}); write a number of another "
        "country with + and its country code"
    )


def normalize_number(raw: str, region: str) -> str:
    """E.164 form of a number as people write it, or InvalidNumber with the reason.

    Read as phonenumbers reads it in `region` first; failing that, as an international number
    dialled with 00 or 011, or a Mexican number in a pre-2019 form (+52 1, 044, 045, 01),
    whatever the upload's country: those forms are no valid number anywhere else.
    """
    text = raw.strip()
    if not text:
        raise InvalidNumber("no number")
    if _SCIENTIFIC.match(text):
        raise InvalidNumber(
            "written in scientific notation by a spreadsheet (digits are lost): format the "
            "column as text and export again"
        )
    try:
        parsed = _parse(text, region)
    except InvalidNumber as exc:
        reason = _explained(str(exc), text, region)
        for reading in _readings(text, region):
            try:
                parsed = _parse(reading, region)
            except InvalidNumber as other:
                if str(other) in _NOT_PERSONAL.values():  # a number, but no person's phone
                    reason = str(other)
                continue
            break
        else:
            raise InvalidNumber(reason) from None
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


def column_name(cell: str) -> str:
    folded = unicodedata.normalize("NFKD", cell.strip().lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[_\-.:#]+", " ", folded).split())


def header_column(row: list[str]) -> int | None:
    """The phone column if `row` is a header row, else None (the row is data).

    A header names its phone column (phone, number, telefono...), or is a row without a digit
    (other names: the numbers are then in the first column).
    """
    for i, cell in enumerate(row):
        if column_name(cell) in _HEADER_NAMES:
            return i
    if not any(ch.isdigit() for cell in row for ch in cell):
        return 0
    return None


# ------------------------------------------------------------------- an optional channel column

CHANNELS = ("sms", "whatsapp", "call")
_CHANNEL_HEADERS = frozenset({"channel", "canal", "kanal", "invite by", "invite via"})
# What a spreadsheet may say in that column, in English, Spanish or Haitian Creole.
_CHANNEL_WORDS = {
    "sms": "sms",
    "text": "sms",
    "texto": "sms",
    "mensaje": "sms",
    "teks": "sms",
    "mesaj": "sms",
    "whatsapp": "whatsapp",
    "wa": "whatsapp",
    "wsp": "whatsapp",
    "call": "call",
    "phone call": "call",
    "voice": "call",
    "llamada": "call",
    "apel": "call",
    "rele": "call",
}


class InvalidChannel(ValueError):
    """A channel cell that names no way of inviting (the reason names the choices)."""


def channel_column(header: list[str]) -> int | None:
    """The column of a header row that says how to invite each row (channel), if any."""
    for i, cell in enumerate(header):
        if column_name(cell) in _CHANNEL_HEADERS:
            return i
    return None


def read_channel(cell: str) -> str:
    """A channel cell as sms, whatsapp or call; "" for an empty cell (the upload's choice)."""
    word = column_name(cell)
    if not word:
        return ""
    if word not in _CHANNEL_WORDS:
        raise InvalidChannel("the channel is not sms, whatsapp or call")
    return _CHANNEL_WORDS[word]
