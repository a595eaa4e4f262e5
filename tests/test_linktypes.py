"""Link type names and numbers."""
from __future__ import annotations

import pytest

from pcapng_iou.core import linktypes
from pcapng_iou.core.linktypes import UnknownLinkType


@pytest.mark.parametrize(
    "word, number",
    [
        ("ethernet", 1), ("ether", 1), ("eth", 1), ("en10mb", 1), ("EN10MB", 1), ("Ethernet", 1),
        ("hdlc", 104), ("c_hdlc", 104), ("c-hdlc", 104), ("chdlc", 104), ("HDLC", 104),
        ("ppp", 50), ("ppp_serial", 50), ("ppp-serial", 50), ("PPP", 50),
        ("frelay", 107), ("fr", 107), ("frame-relay", 107), ("frame_relay", 107), ("FR", 107),
        (" hdlc ", 104),
    ],
)
def test_aliases(word, number):
    assert linktypes.parse(word) == number


def test_constants():
    assert (linktypes.ETHERNET, linktypes.C_HDLC, linktypes.PPP_SERIAL, linktypes.FRELAY, linktypes.PPP) == (
        1, 104, 50, 107, 9)


@pytest.mark.parametrize("word, number", [("0", 0), ("1", 1), ("9", 9), ("104", 104), ("0104", 104),
                                          ("65535", 65535), ("000065535", 65535)])
def test_numbers(word, number):
    assert linktypes.parse(word) == number


def test_every_number_in_range():
    for number in range(0, 65536, 97):
        assert linktypes.parse(str(number)) == number


@pytest.mark.parametrize("word", ["65536", "99999999", "1" * 5000, "0" * 4400 + "1" * 4400],
                         ids=["65536", "99999999", "5000-digits", "8800-digits"])
def test_numbers_out_of_range(word):
    with pytest.raises(UnknownLinkType, match="out of range 0..65535"):
        linktypes.parse(word)


@pytest.mark.parametrize("word", ["ethernet2", "hdlcx", "", "-1", "+1", "1.0", "0x68", "auto", "ppp-raw",
                                  "\u00b2", "\u0663", "\uff11"])
def test_unknown_words(word):
    with pytest.raises(UnknownLinkType) as info:
        linktypes.parse(word)
    assert repr(word) in str(info.value)


def test_unknown_lists_names():
    with pytest.raises(UnknownLinkType) as info:
        linktypes.parse("token-ring")
    assert str(info.value) == (
        "unknown link type 'token-ring' (use a number or one of: ethernet, frame-relay, hdlc, ppp)")


def test_unknown_is_value_error():
    assert issubclass(UnknownLinkType, ValueError)


@pytest.mark.parametrize(
    "number, text",
    [(1, "ethernet"), (104, "hdlc"), (50, "ppp"), (107, "frame-relay"), (9, "ppp-raw"), (0, "dlt0"),
     (147, "dlt147"), (65535, "dlt65535")],
)
def test_name(number, text):
    assert linktypes.name(number) == text


def test_names_parse_back():
    for number, text in linktypes.NAMES.items():
        if text != "ppp-raw":
            assert linktypes.parse(text) == number
