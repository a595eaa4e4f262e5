"""The NETMAP parser: formats, comments, and the exact place and text of every error."""
from __future__ import annotations

import contextlib
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapng_iou.core import netmap
from pcapng_iou.core.netmap import Endpoint, Netmap, NetmapError, Segment


def keys(segment: Segment) -> list:
    return [e.key for e in segment.endpoints]


def error_of(text: str, filename: str = "NETMAP") -> NetmapError:
    with pytest.raises(NetmapError) as info:
        netmap.parse(text, filename)
    return info.value


# -- formats --------------------------------------------------------------------------

def test_two_endpoints_bay_unit():
    parsed = netmap.parse("100:0/0 101:1/3\n")
    assert len(parsed) == 1
    segment = parsed.segments[0]
    assert segment.line == 1
    assert keys(segment) == [(100, 0x00), (101, 0x31)]
    assert segment.linktype is None
    assert segment.auto is False
    assert segment.name == "100:0/0-101:1/3"
    assert parsed.filename == "NETMAP"


def test_numeric_port_form():
    segment = netmap.parse("100:49 101:0").segments[0]
    assert keys(segment) == [(100, 49), (101, 0)]
    assert str(segment.endpoints[0]) == "100:1/3"
    assert segment.name == "100:1/3-101:0/0"


def test_port_255_and_bay_unit_15():
    segment = netmap.parse("1:255 1024:15/15").segments[0]
    assert keys(segment) == [(1, 255), (1024, 255)]


def test_leading_zeros():
    segment = netmap.parse("0100:00/01 0101:016").segments[0]
    assert keys(segment) == [(100, 16), (101, 16)]


def test_host_suffix():
    segment = netmap.parse("100:0/0@lab-host 101:0/0@other.example").segments[0]
    assert [e.host for e in segment.endpoints] == ["lab-host", "other.example"]
    assert keys(segment) == [(100, 0), (101, 0)]
    # the host is not part of an endpoint's identity
    assert Endpoint(100, 0, "a") == Endpoint(100, 0, "b") == Endpoint(100, 0)
    assert str(segment.endpoints[0]) == "100:0/0"


def test_one_endpoint_line():
    segment = netmap.parse("100:0/0").segments[0]
    assert keys(segment) == [(100, 0)]
    assert segment.name == "100:0/0"


def test_shared_segment_three_and_four():
    parsed = netmap.parse("1:0/0 2:0/0 3:0/0\n4:0/0 5:0/0 6:0/0 7:0/0 frelay\n")
    assert keys(parsed.segments[0]) == [(1, 0), (2, 0), (3, 0)]
    assert parsed.segments[0].linktype is None
    assert keys(parsed.segments[1]) == [(4, 0), (5, 0), (6, 0), (7, 0)]
    assert parsed.segments[1].linktype == 107
    assert parsed.segments[1].line == 2


@pytest.mark.parametrize(
    "word, number",
    [("1", 1), ("104", 104), ("50", 50), ("107", 107), ("0", 0), ("147", 147), ("299", 299), ("hdlc", 104),
     ("HDLC", 104), ("c_hdlc", 104), ("ppp", 50), ("ppp_serial", 50), ("fr", 107), ("frame-relay", 107),
     ("ethernet", 1), ("en10mb", 1)],
)
def test_trailing_link_type(word, number):
    segment = netmap.parse(f"100:1/0 101:1/0 {word}").segments[0]
    assert segment.linktype == number
    assert segment.auto is False
    assert keys(segment) == [(100, 1), (101, 1)]


@pytest.mark.parametrize("word", ["auto", "AUTO", "Auto"])
def test_auto(word):
    segment = netmap.parse(f"100:1/0 101:1/0 {word}").segments[0]
    assert segment.auto is True
    assert segment.linktype is None
    assert segment.linktype_or(104) == 104


def test_linktype_or():
    parsed = netmap.parse("1:0/0 2:0/0\n3:0/0 4:0/0 50")
    assert parsed.segments[0].linktype_or(104) == 104
    assert parsed.segments[1].linktype_or(104) == 50


def test_link_type_after_one_endpoint():
    segment = netmap.parse("100:3/0 hdlc").segments[0]
    assert keys(segment) == [(100, 3)]
    assert segment.linktype == 104


def test_hash_comments_and_blank_lines():
    text = "# header\n\n   \n100:0/0 101:0/0   # a link\n\t\n# 1:0/0 2:0/0\n102:0/0 103:0/0 hdlc #x\n"
    parsed = netmap.parse(text)
    assert [s.line for s in parsed] == [4, 7]
    assert keys(parsed.segments[0]) == [(100, 0), (101, 0)]
    assert parsed.segments[1].linktype == 104


def test_hash_without_space():
    segment = netmap.parse("100:0/0 101:0/0#hdlc").segments[0]
    assert keys(segment) == [(100, 0), (101, 0)]
    assert segment.linktype is None


def test_block_comment_mid_line():
    segment = netmap.parse("100:0/0 /* 999:0/0 */ 101:0/0 /*hdlc*/ ppp").segments[0]
    assert keys(segment) == [(100, 0), (101, 0)]
    assert segment.linktype == 50


def test_block_comment_glued_to_endpoint():
    segment = netmap.parse("100:0/0/*x*/101:0/0").segments[0]
    assert keys(segment) == [(100, 0), (101, 0)]


def test_multi_line_block_comment():
    text = "/* first\n100:0/0 101:0/0\nlast */ 102:0/0 103:0/0\n104:0/0 105:0/0 /* a\n b */ 106:0/0 ppp\n"
    parsed = netmap.parse(text)
    assert [s.line for s in parsed] == [3, 4, 5]
    assert keys(parsed.segments[0]) == [(102, 0), (103, 0)]
    # what follows the end of a multi-line comment is a line of its own
    assert keys(parsed.segments[1]) == [(104, 0), (105, 0)]
    assert parsed.segments[1].linktype is None
    assert keys(parsed.segments[2]) == [(106, 0)]
    assert parsed.segments[2].linktype == 50


def test_text_after_multi_line_comment_is_its_own_line():
    with pytest.raises(NetmapError) as info:
        netmap.parse("104:0/0 105:0/0 /* a\n b */ hdlc\n")
    assert str(info.value) == "NETMAP:2:7: a link type needs endpoints before it on the line"


def test_hash_inside_block_comment_and_block_inside_hash():
    parsed = netmap.parse("100:0/0 /* # */ 101:0/0\n# /* not a block comment\n102:0/0 103:0/0\n")
    assert [keys(s) for s in parsed] == [[(100, 0), (101, 0)], [(102, 0), (103, 0)]]


def test_tabs_and_many_blanks():
    segment = netmap.parse("\t100:0/0\t\t101:0/0 \t hdlc\t").segments[0]
    assert keys(segment) == [(100, 0), (101, 0)]
    assert segment.linktype == 104


def test_crlf_line_endings():
    parsed = netmap.parse("# c\r\n100:0/0 101:0/0\r\n\r\n102:1/0 103:1/0 hdlc\r\n")
    assert [s.line for s in parsed] == [2, 4]
    assert parsed.segments[1].linktype == 104
    assert keys(parsed.segments[1]) == [(102, 1), (103, 1)]


def test_empty_text():
    assert len(netmap.parse("")) == 0
    assert len(netmap.parse("\n\n# nothing\n/* at all */\n")) == 0


def test_netmap_queries():
    parsed = netmap.parse("100:0/0 101:0/0\n100:1/0 101:1/0 102:1/0\n200:0/0\n", "lab/NETMAP")
    assert parsed.filename == "lab/NETMAP"
    assert parsed.instances == frozenset({100, 101, 102, 200})
    assert parsed.segments[1].instances == frozenset({100, 101, 102})
    assert parsed.peers(100, 0) == [Endpoint(101, 0)]
    assert parsed.peers(101, 1) == [Endpoint(100, 1), Endpoint(102, 1)]
    assert parsed.peers(200, 0) == []
    assert parsed.peers(300, 0) == []
    assert parsed.segment_of(102, 1).line == 2
    assert parsed.segment_of(102, 0) is None
    assert [s.line for s in parsed] == [1, 2, 3]


# -- errors ---------------------------------------------------------------------------

def test_error_message_format_from_brief():
    lines = ["# lab"] + [f"{i}:0/0 {i + 100}:0/0" for i in range(1, 11)] + ["", "1:1/0 10x:0/0"]
    del lines[11]  # 11 lines before the bad one: the bad one is line 12
    text = "\n".join(lines) + "\n"
    assert text.split("\n")[11] == "1:1/0 10x:0/0"
    err = error_of(text)
    assert str(err) == "NETMAP:12:7: expected ID:BAY/UNIT, got '10x:0/0'"
    assert (err.filename, err.line, err.column) == ("NETMAP", 12, 7)
    assert err.message == "expected ID:BAY/UNIT, got '10x:0/0'"
    assert isinstance(err, ValueError)


def test_error_names_the_file():
    assert str(error_of("x", "/etc/NETMAP")) == "/etc/NETMAP:1:1: expected ID:BAY/UNIT, got 'x'"


def test_error_column_after_multi_line_comment():
    text = "100:0/0 101:0/0\n/* comment\n   spanning */ 10x:0/0\n"
    assert str(error_of(text)) == "NETMAP:3:16: expected ID:BAY/UNIT, got '10x:0/0'"


def test_error_column_after_comment_on_same_line():
    assert str(error_of("/* a */ 1:0/0 /* b */ 2:0/x")) == "NETMAP:1:23: expected ID:BAY/UNIT, got '2:0/x'"


def test_error_line_after_hash_comment_lines():
    assert str(error_of("# a\n# b /* not open\n\n1:0/0 zz")) == (
        "NETMAP:4:7: unknown link type 'zz' (use a number or one of: ethernet, frame-relay, hdlc, ppp), "
        "or auto to follow the frames")


def test_error_column_with_tabs():
    assert str(error_of("100:0/0\t10x:0/0 101:0/0")) == "NETMAP:1:9: expected ID:BAY/UNIT, got '10x:0/0'"


def test_error_with_crlf():
    assert str(error_of("1:0/0 2:0/0\r\n 3:0/0 4:0/99\r\n")) == (
        "NETMAP:2:8: unit 99 in '4:0/99' is out of range 0..15")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10x:0/0", "1:1: expected ID:BAY/UNIT, got '10x:0/0'"),
        ("100:0/0 101 102:0/0", "1:9: expected ID:BAY/UNIT, got '101'"),
        ("100 101:0/0", "1:1: expected ID:BAY/UNIT, got '100'"),
        ("100:0-0 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:0-0'"),
        ("100:0/0/0 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:0/0/0'"),
        ("100:/0 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:/0'"),
        ("100:0/ 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:0/'"),
        (":0/0 101:0/0", "1:1: expected ID:BAY/UNIT, got ':0/0'"),
        ("100:0/0@ 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:0/0@'"),
        ("100:0/0@a@b 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:0/0@a@b'"),
        ("100:-1 101:0/0", "1:1: expected ID:BAY/UNIT, got '100:-1'"),
        ("100:0/0 hdlc 101:0/0", "1:9: link type hdlc amid the endpoints: it ends the line, after them"),
        ("100:0/0 101:0/0 hdlc auto", "1:17: 'hdlc' is a link type too: a line has one, after its endpoints"),
        ("100:0/0 101:0/0 fddi", "1:17: unknown link type 'fddi' (use a number or one of: "
                                 "ethernet, frame-relay, hdlc, ppp), or auto to follow the frames"),
        ("100:0/0 101:0/0 65536", "1:17: link type '65536' is out of range 0..65535"),
        ("100:0/0 101:0/0 \u00b2", "1:17: unknown link type '\u00b2' (use a number or one of: "
                                   "ethernet, frame-relay, hdlc, ppp), or auto to follow the frames"),
        ("foo", "1:1: expected ID:BAY/UNIT, got 'foo'"),
        ("hdlc", "1:1: a link type needs endpoints before it on the line"),
        ("  104", "1:3: a link type needs endpoints before it on the line"),
        ("auto", "1:1: a link type needs endpoints before it on the line"),
        ("1:0/0 2:0/0\n   /* x */ 50 # y", "2:12: a link type needs endpoints before it on the line"),
        ("0:0/0 101:0/0", "1:1: instance id 0 in '0:0/0' is out of range 1..1024"),
        ("100:0/0 1025:0/0", "1:9: instance id 1025 in '1025:0/0' is out of range 1..1024"),
        ("100:0/0 00001025:0/0", "1:9: instance id 1025 in '00001025:0/0' is out of range 1..1024"),
        ("100:16/0", "1:1: bay 16 in '100:16/0' is out of range 0..15"),
        ("100:0/16", "1:1: unit 16 in '100:0/16' is out of range 0..15"),
        ("100:99/99", "1:1: bay 99 in '100:99/99' is out of range 0..15"),
        ("100:256", "1:1: port 256 in '100:256' is out of range 0..255"),
        ("100:0/0 100:0/0", "1:9: endpoint 100:0/0 is already earlier on this line"),
        ("100:49 101:0/0 100:1/3", "1:16: endpoint 100:1/3 is already earlier on this line"),
        ("100:0/0 101:0/0\n\n102:0/0 101:0/0@other", "3:9: endpoint 101:0/0 is already on line 1"),
        ("100:0/0 /* never closed", "1:9: comment '/*' is never closed by '*/'"),
        ("1:0/0\n  2:0/0 /* a */ /* b\nc\n", "2:17: comment '/*' is never closed by '*/'"),
        ("/* a\n*/ /* b\n", "2:4: comment '/*' is never closed by '*/'"),
        # found by a newcomer: the first bad word is blamed, a link type in two words is said as one,
        # a number that is no LINKTYPE_ value is refused
        ("hello world", "1:1: expected ID:BAY/UNIT, got 'hello'"),
        ("1:0/0 hello 2:0/0 world", "1:7: expected ID:BAY/UNIT, got 'hello'"),
        ("1:0/0 2:0/0 frame relay", "1:13: link type 'frame relay' is one word: frame-relay"),
        ("1:0/0 2:0/0 Frame Relay", "1:13: link type 'Frame Relay' is one word: frame-relay"),
        ("1:0/0 2:0/0 ppp serial", "1:13: link type 'ppp serial' is one word: ppp-serial"),
        ("1:0/0 2:0/0 999", "1:13: link type 999 is not a LINKTYPE_ value (pcap assigns 0-10, 50-51, 99-299); "
                            "IOU's are ethernet 1, ppp-raw 9, ppp 50, hdlc 104, frame-relay 107"),
        ("1:0/0 2:0/0 65535", "1:13: link type 65535 is not a LINKTYPE_ value (pcap assigns 0-10, 50-51, 99-299); "
                              "IOU's are ethernet 1, ppp-raw 9, ppp 50, hdlc 104, frame-relay 107"),
        # found by a newcomer: a word after the link type was blamed on the link type, as a bad endpoint
        ("1:1/0 2:1/0 ppp garbage", "1:17: 'garbage' after the link type ppp: the link type ends the line"),
        ("1:0/0 2:0/0 auto x", "1:18: 'x' after the link type auto: the link type ends the line"),
        ("1:0/0 hdlc 2:0/0 junk", "1:7: link type hdlc amid the endpoints: it ends the line, after them"),
        ("1:0/0 2:0/0 ppp ppp", "1:13: 'ppp' is a link type too: a line has one, after its endpoints"),
        ("1:0/0 auto 2:0/0 hdlc", "1:7: 'auto' is a link type too: a line has one, after its endpoints"),
        ("100:0/0 */", "1:9: unknown link type '*/' (use a number or one of: ethernet, frame-relay, hdlc, ppp), "
                        "or auto to follow the frames"),
    ],
)
def test_errors(text, expected):
    assert str(error_of(text)) == "NETMAP:" + expected


@pytest.mark.parametrize(
    "word, expected",
    [
        ("1" * 5000 + ":0/0", "instance id " + "1" * 5000),
        ("100:" + "9" * 5000, "port " + "9" * 5000),
        ("100:" + "0" * 5000 + "/3", None),
        ("100:0/" + "0" * 4400 + "16", "unit 16 "),
        ("100:1/" + "7" * 12, "unit " + "7" * 12),
    ],
    ids=["long-id", "long-port", "long-zero-bay", "long-zero-unit-16", "unit-12-digits"],
)
def test_very_long_numbers(word, expected):
    text = "1:0/0 " + word
    if expected is None:
        assert keys(netmap.parse(text).segments[0]) == [(1, 0), (100, 0x30)]
        return
    err = error_of(text)
    assert (err.line, err.column) == (1, 7)
    assert err.message.startswith(expected)
    assert "out of range" in err.message


def test_very_long_link_type_number():
    err = error_of("1:0/0 " + "5" * 5000)
    assert (err.line, err.column) == (1, 7)
    assert "out of range 0..65535" in err.message


def test_error_stops_at_first_problem():
    err = error_of("1:0/0 2:0/0\n3:0/0 zz:0/0\n4:0/0 4:0/0\n")
    assert (err.line, err.column) == (2, 7)



# -- fuzzing --------------------------------------------------------------------------

@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail (instead of hanging forever) when the body runs longer than ``seconds``."""
    def expired(signum, frame):
        raise AssertionError(f"netmap.parse took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_parse(text: str) -> None:
    """``parse`` returns a valid Netmap or raises NetmapError pointing at a real place."""
    with time_limit(2.0):
        try:
            parsed = netmap.parse(text)
        except NetmapError as err:
            lines = text.split("\n")
            assert 1 <= err.line <= len(lines), err
            assert 1 <= err.column <= len(lines[err.line - 1]), err
            # the error points at the start of a word, never at a blank
            assert not lines[err.line - 1][err.column - 1].isspace(), err
            assert str(err).startswith(f"NETMAP:{err.line}:{err.column}: ")
            return
    assert isinstance(parsed, Netmap)
    seen = set()
    for segment in parsed:
        assert segment.endpoints
        for endpoint in segment.endpoints:
            assert 1 <= endpoint.instance <= 1024
            assert 0 <= endpoint.port <= 255
            assert endpoint.key not in seen
            seen.add(endpoint.key)
        assert segment.linktype is None or 0 <= segment.linktype <= 65535


FUZZ = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_fuzz_arbitrary_text(text):
    check_parse(text)


TOKENS = [
    "100:0/0", "101:0/0", "1:1/3", "1024:15/15", "102:49", "0:0/0", "1025:0/0", "100:16/0", "100:0/16",
    "100:256", "@host", "@", ":", "/", "0", "1", "15", "16", "255", "65535", "65536", "hdlc", "ppp",
    "frame-relay", "auto", "AUTO", "50", "104", "#", "# comment", "/*", "*/", "/* x */", "\n", "\r\n",
    "\r", " ", "  ", "\t", "\u00b2", "\u0663", "\u00a0", "\u2028", "\x0b", "\x0c", "\x85", "x", "*", "@lab",
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_fuzz_netmap_tokens(text):
    check_parse(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_fuzz_netmap_words(text):
    check_parse(text)


@st.composite
def netmaps(draw):
    """Random valid NETMAPs as (text, expected segments)."""
    all_keys = draw(st.lists(st.tuples(st.integers(1, 1024), st.integers(0, 255)), unique=True, max_size=12))
    lines, expected = [], []
    blank = st.sampled_from([" ", "\t", "  ", " /* c */ ", "/*\n*/"])
    while all_keys:
        size = draw(st.integers(1, min(4, len(all_keys))))
        members, all_keys = all_keys[:size], all_keys[size:]
        words = []
        for instance, port in members:
            bay, unit = port & 15, port >> 4
            words.append(draw(st.sampled_from([f"{instance}:{bay}/{unit}", f"{instance}:{port}",
                                               f"{instance}:{bay}/{unit}@h"])))
        linktype = draw(st.sampled_from([None, "hdlc", "50", "auto", "frame-relay"]))
        if linktype:
            words.append(linktype)
        separator = draw(blank)
        if "\n" in separator:
            separator = " "  # a comment spanning lines would split the segment
        line = separator.join(words) + draw(st.sampled_from(["", " # tail", "\r", " /* t */"]))
        lines.append(line)
        expected.append((members, {None: None, "hdlc": 104, "50": 50, "auto": None, "frame-relay": 107}[linktype],
                         linktype == "auto"))
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# only a comment", "/* multi\nline */", "  \t"])))
    return "\n".join(lines), expected


@FUZZ
@given(netmaps())
def test_fuzz_valid_netmaps_parse_back(case):
    text, expected = case
    with time_limit(2.0):
        parsed = netmap.parse(text)
    assert [(keys(s), s.linktype, s.auto) for s in parsed] == [
        (members, linktype, auto) for members, linktype, auto in expected]
    lines = text.split("\n")
    for segment in parsed:
        # the segment's line number is true: its first endpoint's id is written there
        assert str(segment.endpoints[0].instance) in lines[segment.line - 1]


def test_time_limit_catches_a_hang():
    with pytest.raises(AssertionError, match="took more than"):
        with time_limit(0.05):
            while True:
                pass


def _blank_comments_by_character(text: str) -> str:
    """Reference for the comment blanking: one character at a time (no error cases)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "#":
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.index("*/", i + 2) + 2
            out.append("".join("\n" if c == "\n" else " " for c in text[i:end]))
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@given(st.lists(st.sampled_from(["1:0/0", " ", "\n", "#", "# x", "/*", "*/", "/* a\nb */", "*", "/", "2:1/0 hdlc"]),
                max_size=40))
def test_comments_are_blanked_as_one_character_at_a_time_would(pieces):
    from pcapng_iou.core.netmap import _blank_comments

    text = "".join(pieces)
    try:
        expected = _blank_comments_by_character(text)
    except ValueError:  # an unclosed /*: the parser names it
        with pytest.raises(NetmapError, match="never closed"):
            _blank_comments(text, "NETMAP")
        return
    assert _blank_comments(text, "NETMAP") == expected
