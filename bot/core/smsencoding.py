"""How many SMS segments a message costs, and why: GSM-7 or UCS-2 (GSM 03.38 / 3GPP TS 23.038).

Pure functions, no I/O. Carriers bill and deliver per segment, and a message split into many
segments arrives out of order on some phones, so the questionnaire checker reports these numbers
for every message a respondent receives.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The GSM 03.38 default alphabet (basic table), one septet each. Position 0x09 is the capital
# Ç in the standard; lowercase ç is not in the table, so it forces UCS-2 like any other
# character outside it. 0x1B (ESC) is not listed: it only introduces the extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + a septet, so it costs two septets and the pair
# must stay together in one segment.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# One segment carries 140 octets: 160 septets or 70 UTF-16 code units. A multipart message
# spends 6 octets of each segment on the concatenation header (UDH), leaving 153 / 67.
GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SmsInfo:
    """What sending one text costs: its encoding, segments, length in units, UCS-2 culprits."""

    encoding: str
    segments: int
    length: int  # septets for GSM-7, UTF-16 code units for UCS-2
    ucs2_chars: tuple[str, ...]


def ucs2_chars(text: str) -> list[str]:
    """The characters that force UCS-2, in order of first appearance, each once."""
    return list(
        dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION)
    )


def encoding_of(text: str) -> str:
    """Return "GSM-7" if every character is in the GSM 03.38 tables, else "UCS-2"."""
    return UCS2 if ucs2_chars(text) else GSM7


# One user-perceived character (an extended grapheme cluster, Unicode UAX #29): a flag (two
# regional indicators), an emoji with its skin tone or a ZWJ family, a letter with its
# combining accents.
_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    """The user-perceived characters of a text, as Twilio's segment calculator splits them:
    extended grapheme clusters, except that CR LF counts as two (it cuts "\r\n" in two)."""
    return [part for cluster in _GRAPHEME.findall(text) for part in _split_crlf(cluster)]


def _split_crlf(cluster: str) -> tuple[str, ...]:
    return ("\r", "\n") if cluster == "\r\n" else (cluster,)


def _unit_costs(text: str, encoding: str) -> list[int]:
    # Cost of each user-perceived character in the units of its encoding. Each cost is
    # indivisible, as Twilio's segment calculator (TwilioDevEd/message-segment-calculator)
    # counts: a segment boundary never falls inside an escape sequence (GSM-7) nor inside a
    # grapheme cluster (UCS-2): not between the two halves of a surrogate pair, the two
    # regional indicators of a flag, an emoji and its skin tone or the parts of a ZWJ
    # sequence, nor between a letter and its combining accent. Counting code points instead
    # would put a boundary there and undercount by a segment.
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # UCS-2 on the wire is really UTF-16: characters beyond the BMP (most emoji) take two
    # code units, a surrogate pair.
    return [sum(2 if ord(ch) > 0xFFFF else 1 for ch in cluster) for cluster in graphemes(text)]


def _count_segments(costs: list[int], single: int, multi: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # Fill each segment greedily; a character that does not fit whole starts the next segment,
    # which is why 153 septets of text with an escape at the edge can need one more segment
    # (and 67 UTF-16 units with a flag or an accented letter at the edge).
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return segments


def describe(text: str) -> SmsInfo:
    """Encoding, segment count, length in units and UCS-2 culprits of one message."""
    culprits = ucs2_chars(text)
    encoding = UCS2 if culprits else GSM7
    costs = _unit_costs(text, encoding)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == GSM7 else (UCS2_SINGLE, UCS2_MULTI)
    return SmsInfo(
        encoding=encoding,
        segments=_count_segments(costs, single, multi),
        length=sum(costs),
        ucs2_chars=tuple(culprits),
    )


def summary(info: SmsInfo) -> str:
    """What a text costs in words, e.g. "GSM-7, 1 segment (97 septets)" or "UCS-2, 2 segments
    (75 UTF-16 units); UCS-2 because of é"."""
    unit = "septets" if info.encoding == GSM7 else "UTF-16 units"
    noun = "segment" if info.segments == 1 else "segments"
    text = f"{info.encoding}, {info.segments} {noun} ({info.length} {unit})"
    if info.ucs2_chars:
        text += f"; UCS-2 because of {' '.join(info.ucs2_chars)}"
    return text


def segments(text: str) -> int:
    """How many SMS segments a message is sent as (0 for an empty text)."""
    return describe(text).segments
