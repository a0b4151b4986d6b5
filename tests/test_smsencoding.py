"""SMS encoding and segment counts: GSM 03.38 tables, UCS-2 code units, split rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.smsencoding import (
    GSM7,
    GSM7_BASIC,
    UCS2,
    SmsInfo,
    describe,
    encoding_of,
    segments,
    summary,
    ucs2_chars,
)

EMOJI = "\U0001f600"  # outside the BMP: a surrogate pair, two UTF-16 code units


@pytest.mark.parametrize(
    ("length", "expected"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_segment_boundaries(length, expected):
    text = "a" * length
    assert encoding_of(text) == GSM7
    assert segments(text) == expected


def test_empty_text_has_no_segment():
    assert segments("") == 0
    assert describe("") == SmsInfo(GSM7, 0, 0, ())


@pytest.mark.parametrize("char", list("^{}\\[~]|€\f"))
def test_extension_characters_cost_two_septets(char):
    assert encoding_of(char) == GSM7
    assert describe(char * 80).length == 160
    assert segments(char * 80) == 1
    assert segments(char * 81) == 2


def test_escape_sequence_is_not_split_across_segments():
    # 152 + 2 + 152 = 306 septets, exactly two full segments by arithmetic, but the escape pair
    # would straddle the boundary after septet 153, so it moves whole to the second segment.
    text = "a" * 152 + "€" + "a" * 152
    assert describe(text).length == 306
    assert segments(text) == 3
    # With the pair fully inside the first segment the text fits in two.
    assert segments("a" * 151 + "€" + "a" * 153) == 2


@pytest.mark.parametrize(
    ("length", "expected"),
    [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_segment_boundaries(length, expected):
    text = "á" * length
    assert encoding_of(text) == UCS2
    assert segments(text) == expected


def test_one_non_gsm_character_makes_the_whole_message_ucs2():
    text = "a" * 69 + "á"
    assert encoding_of(text) == UCS2
    assert segments(text) == 1
    assert segments(text + "a") == 2


def test_emoji_counts_two_code_units():
    assert describe(EMOJI).length == 2
    assert segments(EMOJI * 35) == 1
    assert segments(EMOJI * 36) == 2
    assert ucs2_chars("ok " + EMOJI) == [EMOJI]


def test_surrogate_pair_is_not_split_across_segments():
    # 66 + 2 + 66 = 134 units, two full segments by arithmetic, but the pair would straddle the
    # boundary after unit 67.
    text = "á" * 66 + EMOJI + "á" * 66
    assert describe(text).length == 134
    assert segments(text) == 3
    assert segments("á" * 65 + EMOJI + "á" * 67) == 2


def test_ucs2_chars_names_the_culprits_in_order_once():
    assert ucs2_chars("¿Cuántos años? Más de 10 años, sí.") == ["á", "í"]
    assert ucs2_chars("Kreyòl: èd, Òganizasyon") == ["Ò"]
    assert ucs2_chars("curly \u201cquotes\u201d \u2014 dash") == ["\u201c", "\u201d", "\u2014"]
    assert ucs2_chars("plain GSM text: ñ ü é è ò ¿ ¡ € {}") == []


def test_gsm_table_details():
    # Capital C cedilla is in the basic table; lowercase is not.
    assert encoding_of("Ç") == GSM7
    assert encoding_of("ç") == UCS2
    # Greek capitals that look unlike Latin ones are in the table; others are not.
    assert encoding_of("ΔΦΓΛΩΠΨΣΘΞ") == GSM7
    assert encoding_of("\n\r") == GSM7
    assert encoding_of("\t") == UCS2


def test_describe_matches_the_single_functions():
    text = "¡Gracias! Conozca sus derechos: 1-888-000-0000"
    info = describe(text)
    assert info == SmsInfo(GSM7, 1, len(text), ())
    assert info.encoding == encoding_of(text)
    assert info.segments == segments(text)


@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=1000))
def test_basic_gsm_text_needs_the_textbook_number_of_segments(text):
    n = len(text)
    expected = 0 if n == 0 else 1 if n <= 160 else -(-n // 153)
    assert segments(text) == expected


@given(st.text(max_size=400))
def test_segments_always_hold_the_whole_text(text):
    info = describe(text)
    single, multi = (160, 153) if info.encoding == GSM7 else (70, 67)
    if info.length == 0:
        assert info.segments == 0
    elif info.length <= single:
        assert info.segments == 1
    else:
        # Never fewer than the arithmetic minimum, and at most one lost unit per boundary.
        assert info.segments >= -(-info.length // multi)
        assert info.segments <= -(-info.length // (multi - 1))


def test_summary_names_encoding_segments_units_and_culprits():
    assert summary(describe("a" * 160)) == "GSM-7, 1 segment (160 septets)"
    assert summary(describe("a" * 161)) == "GSM-7, 2 segments (161 septets)"
    assert summary(describe("¿Qué tal? Sí.")) == (
        "UCS-2, 1 segment (13 UTF-16 units); UCS-2 because of í"
    )


# ------------------------------------------------- grapheme clusters at a segment boundary
# Vectors from Twilio's own segment calculator (TwilioDevEd/message-segment-calculator, its
# SegmentedMessage run on each text): it never splits a grapheme cluster between segments.
# Each text is `pad` letters, the cluster, then letters up to 134 UTF-16 units: two full UCS-2
# segments of 67 by arithmetic, three when the cluster would straddle unit 67.
CLUSTERS = {
    "flag of Mexico": ("\U0001f1f2\U0001f1fd", {64, 65, 66}),
    "flag of Haiti": ("\U0001f1ed\U0001f1f9", {64, 65, 66}),
    "thumbs up, medium skin tone": ("\U0001f44d\U0001f3fd", {64, 65, 66}),
    "family (ZWJ sequence)": ("\U0001f468\u200d\U0001f469\u200d\U0001f467", set(range(60, 67))),
    "e and a combining acute": ("e\u0301", {66}),
    "o and a combining grave (Kreyol ò, decomposed)": ("o\u0300", {66}),
    "red heart and its emoji selector": ("\u2764\ufe0f", {66}),
    "grinning face (one surrogate pair)": ("\U0001f600", {66}),
}


@pytest.mark.parametrize("name", sorted(CLUSTERS))
@pytest.mark.parametrize("pad", range(58, 68))
def test_a_cluster_at_a_segment_boundary_counts_as_twilio_counts_it(name, pad):
    cluster, three_at = CLUSTERS[name]
    units = len(cluster.encode("utf-16-le")) // 2
    text = "a" * pad + cluster + "b" * (134 - pad - units)
    info = describe(text)
    assert (info.encoding, info.length) == (UCS2, 134)
    assert info.segments == (3 if pad in three_at else 2)


@pytest.mark.parametrize(
    ("name", "pad", "total", "expected"),
    [
        ("flag of Mexico", 64, 133, 3),  # Twilio: the flag moves whole, 2 units are wasted
        ("flag of Mexico", 64, 201, 4),
        ("family (ZWJ sequence)", 60, 133, 3),
        ("family (ZWJ sequence)", 60, 201, 4),
        ("e and a combining acute", 66, 201, 4),
        ("e and a combining acute", 66, 133, 2),
        ("thumbs up, medium skin tone", 66, 133, 2),
    ],
)
def test_more_boundary_vectors_from_twilios_calculator(name, pad, total, expected):
    cluster, _ = CLUSTERS[name]
    units = len(cluster.encode("utf-16-le")) // 2
    assert segments("a" * pad + cluster + "b" * (total - pad - units)) == expected


def test_a_cluster_that_fits_one_segment_is_one_segment():
    flag = CLUSTERS["flag of Haiti"][0]
    assert segments("a" * 66 + flag) == 1  # 70 units exactly
    assert segments("a" * 67 + flag) == 2


def test_crlf_is_two_characters_as_twilio_counts_it():
    # The calculator cuts the CR LF cluster in two: a boundary may fall between them.
    assert segments("ê" * 66 + "\r\n" + "b" * 66) == 2  # ê: not in GSM-7, so UCS-2
    assert segments("ê" * 67 + "\r\n" + "b" * 65) == 2
    assert describe("ê\r\n").length == 3
