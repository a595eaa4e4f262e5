from __future__ import annotations

import dataclasses
import io
import re
import threading
import time

import pytest
from rich.console import Console
from rich.text import Text

from pcapng_iou.core.links import Interface
from pcapng_iou.core.netio import endpoint_name
from pcapng_iou.core.netmap import Endpoint, Segment
from pcapng_iou.core.status import CaptureStatus, Event
from pcapng_iou.ui import dashboard, liveview
from pcapng_iou.ui.dashboard import (
    Dashboard,
    Rate,
    RateMeter,
    format_age,
    format_bytes,
    make_console,
    render,
    summary,
)

S = 1_000_000_000
NOW = 1_700_000_000 * S  # a wall-clock instant, as time.time_ns() gives


def make_interface(number, a=(100, 0), b=(101, 0), linktype=1, mapped=True, frames=(0, 0), octets=(0, 0), last_ns=0,
                   file_id="number"):
    """A link; by default it has its block in the file, its file id its number (``file_id=None``: none yet)."""
    endpoints = (a, b)
    name = "-".join(endpoint_name(i, p) for i, p in endpoints)
    interface = Interface(number=number, name=name, linktype=linktype, description="", endpoints=endpoints)
    if mapped:
        interface.segment = Segment(number + 1, tuple(Endpoint(i, p) for i, p in endpoints))
        assert interface.segment.name == name
    interface.frames_out, interface.frames_in = frames
    interface.bytes_out, interface.bytes_in = octets
    interface.last_ns = last_ns
    interface.file_id = number if file_id == "number" else file_id
    return interface


def test_hash_is_the_file_interface_id_and_the_summary_lists_what_the_file_holds():
    busy = make_interface(5, frames=(3, 1), octets=(300, 100), file_id=0)
    silent = make_interface(0, (100, 16), (101, 16), file_id=None)
    later = make_interface(9, (100, 1), (101, 1), frames=(0, 2), octets=(0, 200), file_id=1)
    lines = lines_of(render(make_status([busy, silent, later]), {}, 120, 40))
    assert row(lines, busy.name)[0] == "0"
    assert row(lines, later.name)[0] == "1"
    assert row(lines, silent.name)[0] == "-"
    lines = lines_of(summary(make_status([busy, silent, later])), width=120)
    assert "2 interfaces in the file" in lines[0]
    assert [row(lines, i.name)[0] for i in (busy, later)] == ["0", "1"]
    assert not any(silent.name in line for line in lines)


def make_status(interfaces=(), **overrides):
    values = dict(
        output="/tmp/lab.pcapng",
        pid=4242,
        started_ns=NOW - 3723 * S,
        now_ns=NOW,
        output_bytes=12_345_678,
        interfaces=list(interfaces),
        instances_attached=[100, 101, 102],
        instances_down=[],
        frames_recorded=1234,
        datagrams_relayed=1300,
        datagrams_malformed=2,
    )
    values.update(overrides)
    return CaptureStatus(**values)


def text_of(renderable, width=120):
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=False)
    console.print(renderable)
    return console.export_text()


def lines_of(renderable, width=120):
    return text_of(renderable, width).rstrip("\n").split("\n")


def row(lines, name):
    matches = [line for line in lines if re.search(rf"\s{re.escape(name)}\s", line)]
    assert len(matches) == 1, (name, lines)
    return matches[0].split()


@pytest.fixture
def lab():
    ethernet = make_interface(0, (100, 0), (101, 0), 1, frames=(120, 80), octets=(64_000, 40_000), last_ns=NOW - 300_000_000)
    serial = make_interface(1, (100, 16), (102, 16), 104, frames=(7, 5), octets=(700, 500), last_ns=NOW - 12 * S)
    down = make_interface(2, (101, 1), (102, 1), 1, frames=(3, 4), octets=(300, 400), last_ns=NOW - 200 * S)
    replaced = make_interface(3, (102, 2), (103, 2), 1, frames=(1000, 1000), octets=(10**6, 10**6), last_ns=NOW - S)
    replaced.replaced_by, replaced.successor = 7, make_interface(7, (102, 2), (103, 2), 50)
    unmapped = make_interface(4, (100, 3), (104, 3), 1, mapped=False, frames=(2, 0), octets=(120, 0), last_ns=NOW - S)
    lossy = make_interface(5, (100, 4), (101, 4), 1, frames=(50, 0), octets=(5000, 0), last_ns=NOW - 5 * S)
    lossy.undelivered = 9
    fresh = make_interface(6, (100, 5), (101, 5), 1)
    return [ethernet, serial, down, replaced, unmapped, lossy, fresh]


def test_header_facts(lab):
    status = make_status(lab, instances_down=[102])
    text = text_of(render(status, {}, 120, 40))
    head = "\n".join(text.split("\n")[:3])
    assert "/tmp/lab.pcapng" in head
    assert "11.8 MiB" in head
    assert "elapsed 1:02:03" in head
    assert "pid 4242" in head
    assert "kill -HUP 4242" in head
    assert "frames 1,234" in head
    assert "dropped" not in head  # nothing is ever dropped: no counter that always reads 0
    assert "datagrams relayed 1,300" in head
    assert "malformed 2" in head
    assert "instances: 3 attached (100, 101, 102) / 1 down (102)" in head


def test_header_counts_extra_down_instances(lab):
    status = make_status(lab, instances_down=[102])
    text = text_of(render(status, {}, 120, 40, down={103}))
    assert "2 down (102, 103)" in text


def test_rows_show_link_type_counts_rate_and_age(lab):
    status = make_status(lab)
    rates = {0: Rate(frames_per_s=50.0, bits_per_s=96_000.0)}
    lines = lines_of(render(status, rates, 120, 40))
    assert lines[3].split() == ["#", "link", "type", "frames", "→", "frames", "←", "bytes", "frames/s", "bit/s",
                                "last", "state"]
    assert row(lines, "100:0/0-101:0/0") == ["0", "100:0/0-101:0/0", "ethernet", "120", "80", "102", "KiB", "50",
                                             "96.0k", "0.3s", "active"]
    assert row(lines, "100:0/1-102:0/1") == ["1", "100:0/1-102:0/1", "hdlc", "7", "5", "1.17", "KiB", "0", "0",
                                             "12s", "idle"]
    assert row(lines, "101:1/0-102:1/0")[-2:] == ["3m", "idle"]
    assert row(lines, "100:5/0-101:5/0") == ["6", "100:5/0-101:5/0", "ethernet", "0", "0", "0", "B", "0", "0",
                                             "-", "idle"]


def test_states_down_replaced_unmapped_undelivered(lab):
    status = make_status(lab, instances_down=[102])
    lines = lines_of(render(status, {}, 120, 40))
    assert row(lines, "101:1/0-102:1/0")[-2:] == ["down:", "102"]
    assert row(lines, "100:0/1-102:0/1")[-2:] == ["down:", "102"]
    assert row(lines, "102:2/0-103:2/0")[-3:] == ["replaced", "by", "#7"]
    assert row(lines, "100:3/0-104:3/0")[-2:] == ["active", "unmapped"]
    assert row(lines, "100:4/0-101:4/0")[-3:] == ["idle", "+9", "undelivered"]
    assert row(lines, "100:0/0-101:0/0")[-1] == "active"


def test_links_left_out_by_link_option_say_so(lab):
    lab[6].recorded = False
    lines = lines_of(render(make_status(lab), {}, 120, 40))
    assert row(lines, "100:5/0-101:5/0")[-3:] == ["not", "recorded", "(--link)"]
    assert row(lines_of(summary(make_status(lab)), width=200), "100:5/0-101:5/0")[-3:] == [
        "not", "recorded", "(--link)"]


def test_links_seen_one_way_say_so(lab):
    """A connected sender the capture could not take over (issue 25): its links are marked, row and summary."""
    status = make_status(lab, one_way=frozenset({1}))
    assert row(lines_of(render(status, {}, 120, 40)), "100:0/1-102:0/1")[-2:] == ["one", "direction"]
    assert row(lines_of(summary(status), width=200), "100:0/1-102:0/1")[-2:] == ["one", "direction"]
    assert "one direction" not in text_of(render(make_status(lab), {}, 120, 40))


def test_down_argument_marks_links(lab):
    status = make_status(lab)
    lines = lines_of(render(status, {}, 120, 40, down={101}))
    assert row(lines, "100:0/0-101:0/0")[-2:] == ["down:", "101"]
    assert row(lines, "100:0/1-102:0/1")[-1] == "idle"


def test_state_column_is_styled():
    active = make_interface(0, frames=(1, 0), last_ns=NOW)
    idle = make_interface(1, frames=(1, 0), last_ns=NOW - 5 * S)
    dead = make_interface(2, (102, 0), (103, 0), frames=(1, 0), last_ns=NOW)
    assert "green" in str(liveview._state(active, NOW, set()).spans[0].style)
    assert "dim" in str(liveview._state(idle, NOW, set()).spans[0].style)
    assert "red" in str(liveview._state(dead, NOW, {103}).spans[0].style)
    assert liveview._state(dead, NOW, {103}).plain == "down: 103"


def test_active_means_a_frame_within_two_seconds():
    just = make_interface(0, frames=(1, 0), last_ns=NOW - 2 * S)
    older = make_interface(1, frames=(1, 0), last_ns=NOW - 2 * S - 1)
    assert liveview._state(just, NOW, set()).plain == "active"
    assert liveview._state(older, NOW, set()).plain == "idle"


def test_format_age_and_bytes():
    interface = make_interface(0)
    assert format_age(interface, NOW) == "-"
    interface.frames_out = 1
    for age_ns, shown in [(300_000_000, "0.3s"), (12 * S, "12s"), (200 * S, "3m"), (7300 * S, "2h")]:
        interface.last_ns = NOW - age_ns
        assert format_age(interface, NOW) == shown
    assert format_bytes(0) == "0 B"
    assert format_bytes(999) == "999 B"
    assert format_bytes(1536) == "1.50 KiB"
    assert format_bytes(12_345_678) == "11.8 MiB"
    assert format_bytes(5 * 1024 ** 3) == "5.00 GiB"


def test_busiest_first_and_replaced_last(lab):
    status = make_status(lab)
    rates = {1: Rate(10.0, 8000.0), 5: Rate(2.0, 1.0), 3: Rate(500.0, 1e6)}
    lines = lines_of(render(status, rates, 120, 40))
    order = [line.split()[1] for line in lines[5:12]]
    assert order == [
        "100:0/1-102:0/1",  # 10 fps
        "100:4/0-101:4/0",  # 2 fps
        "100:0/0-101:0/0",  # no rate, 200 frames
        "101:1/0-102:1/0",  # 7 frames
        "100:3/0-104:3/0",  # 2 frames
        "100:5/0-101:5/0",  # 0 frames
        "102:2/0-103:2/0",  # replaced: last, although the busiest
    ]


def test_ties_sorted_by_number():
    interfaces = [make_interface(n, (100, n), (101, n), frames=(5, 5)) for n in (3, 1, 2)]
    lines = lines_of(render(make_status(interfaces), {}, 120, 40))
    assert [line.split()[0] for line in lines[5:8]] == ["1", "2", "3"]


def test_many_links_fit_the_height():
    interfaces = [
        make_interface(n, (100 + n // 16, n % 16), (200 + n // 16, n % 16), frames=(n, n), octets=(60 * n, 60 * n))
        for n in range(300)
    ]
    events = [Event(NOW - (10 - k) * S, f"event {k}") for k in range(10)]
    status = make_status(interfaces, events=events)
    lines = lines_of(render(status, {}, 120, 30))
    assert len(lines) <= 30
    shown = [line for line in lines if re.match(r"^\s*\d+\s+\d+:\d+/\d+-", line)]
    hidden_line = [line for line in lines if "more links hidden" in line]
    assert hidden_line == [f"… {300 - len(shown)} more links hidden (busiest shown)"]
    # 3 header lines, 2 for the column titles, the hidden line, 5 events
    assert len(shown) == 30 - 3 - 2 - 1 - 5 == 19
    assert [line.split()[0] for line in shown] == [str(n) for n in range(299, 299 - 19, -1)]
    assert "event 9" in lines[-1] and "event 5" in lines[-5] and "event 4" not in "\n".join(lines)


def test_tiny_terminal_gives_rows_before_events():
    interfaces = [make_interface(n, (100, n), (101, n), frames=(n, 0)) for n in range(20)]
    events = [Event(NOW, f"event {k}") for k in range(5)]
    lines = lines_of(render(make_status(interfaces, events=events), {}, 120, 10))
    # 3 header lines, 2 for the column titles, then rows get at least 3 lines (2 rows and the hidden line)
    assert len(lines) == 10
    assert [line.split()[0] for line in lines[5:7]] == ["19", "18"]
    assert lines[7] == "… 18 more links hidden (busiest shown)"
    assert lines[8].endswith("  event 3") and lines[9].endswith("  event 4")
    lines = lines_of(render(make_status(interfaces, events=events), {}, 120, 4))
    assert len(lines) == 4
    assert lines[-1] == "… 20 links hidden (terminal too small)"


def test_narrow_terminal_keeps_one_line_per_row(lab):
    status = make_status(lab, events=[Event(NOW, "a rather long event text " * 5)])
    lines = lines_of(render(status, {}, 60, 40), width=60)
    header = lines.index(next(line for line in lines if line.split()[:2] == ["#", "link"]))
    assert len(lines) == header + 2 + len(lab) + 1
    assert all(len(line) <= 60 for line in lines)
    assert row(lines, "100:0/0-101:0/0")[-1] == "active"


def test_event_footer_styles_and_times(lab):
    events = [
        Event(NOW - 5 * S, "instance 100 attached"),
        Event(NOW - 4 * S, "NETMAP line 3 unknown link type", "warning"),
        Event(NOW - 3 * S, "cannot write [output]", "error"),
    ]
    status = make_status(lab, events=events)
    group = render(status, {}, 120, 40)
    lines = lines_of(group)
    clock = time.strftime("%H:%M:%S", time.localtime((NOW - 5 * S) / 1e9))
    assert lines[-3] == f"{clock}  instance 100 attached"
    assert lines[-2].endswith("  NETMAP line 3 unknown link type")
    assert lines[-1].endswith("  cannot write [output]")  # no markup interpretation
    texts = {t.plain.split("  ", 1)[1]: t for t in group.renderables if isinstance(t, Text) and "  " in t.plain[:10]}
    assert "yellow" in str(texts["NETMAP line 3 unknown link type"].spans[-1].style)
    assert "red" in str(texts["cannot write [output]"].spans[-1].style)


def test_event_times_relative_to_start_for_monotonic_clock():
    status = make_status(started_ns=5 * S, now_ns=80 * S, events=[Event(70 * S, "late")])
    assert lines_of(render(status, {}, 120, 40))[-1] == "+0:01:05  late"


def test_no_links_yet():
    lines = lines_of(render(make_status(), {}, 120, 40))
    assert lines[-1] == "no links yet"


def test_render_reads_no_clock(lab, monkeypatch):
    def forbidden(*args):
        raise AssertionError("clock read")

    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter"):
        monkeypatch.setattr(time, name, forbidden)
    status = make_status(lab, events=[Event(NOW, "x")])
    render(status, {}, 120, 40)
    summary(status)
    RateMeter().sample(NOW, lab)


def test_summary_has_all_interfaces_and_totals():
    interfaces = [
        make_interface(n, (100, n), (101, n), frames=(10 * n, n), octets=(1000 * n, 100 * n)) for n in range(60)
    ]
    interfaces[5].replaced_by, interfaces[5].successor = 59, interfaces[59]
    interfaces[7].undelivered = 4
    status = make_status(interfaces, output_bytes=2048)
    lines = lines_of(summary(status))
    assert "60 interfaces in the file" in lines[0]
    assert "datagrams relayed 1,300" in lines[1]
    rows = [line for line in lines if re.match(r"^\s*\d+\s+100:", line)]
    assert [r.split()[0] for r in rows] == [str(n) for n in range(60)]
    assert row(lines, "100:5/0-101:5/0")[-3:] == ["replaced", "by", "#59"]
    assert row(lines, "100:7/0-101:7/0")[-1] == "4"
    total = [line for line in lines if "total" in line]
    # frames out 10*(0+..+59) = 17,700; in 1,770; bytes 1,947,000 = 1.86 MiB
    assert total[0].split() == ["total", "17,700", "1,770", "19,470", "1.86", "MiB", "4"]


def test_summary_of_a_huge_lab_lists_the_busiest_and_counts_the_rest():
    count = dashboard.SUMMARY_MAX_ROWS * 3
    interfaces = [make_interface(n, (1 + n // 16, n % 16), (500, n % 16)) for n in range(count)]
    busy = [7, 150, 299]
    for n in busy:
        interfaces[n].frames_out, interfaces[n].bytes_out = n + 1, 100
    lines = lines_of(summary(make_status(interfaces)), width=200)
    rows = [line for line in lines if re.match(r"^\s*\d+\s+\d+:", line)]
    assert len(rows) == dashboard.SUMMARY_MAX_ROWS
    numbers = [int(r.split()[0]) for r in rows]
    assert numbers == sorted(numbers) and set(busy) <= set(numbers)
    assert f"{len(interfaces)} interfaces" in lines[0]
    assert [line.split()[0] for line in lines if "total" in line] == ["total"]
    assert any(f"{len(interfaces) - dashboard.SUMMARY_MAX_ROWS:,} more links not shown (0 of them with frames)"
               in line for line in lines)


def test_busiest_first_orders_as_one_sort_would():
    import random

    from pcapng_iou.ui.liveview import _busiest_first

    chance = random.Random(18)
    interfaces = []
    for n in range(400):
        interface = make_interface(n, (1 + n // 16, n % 16), (900, n % 16))
        if chance.random() < 0.3:
            interface.frames_out = chance.choice([1, 5, 5, 40])
        if chance.random() < 0.1:
            interface.replaced_by = 399
        interfaces.append(interface)
    chance.shuffle(interfaces)
    rates = {i.number: Rate(chance.choice([0.0, 0.0, 2.0, 7.5]), 0.0) for i in interfaces if chance.random() < 0.5}

    def key(interface):
        rate = rates.get(interface.number, Rate())
        return (interface.replaced_by is not None, -rate.frames_per_s,
                -(interface.frames_out + interface.frames_in), interface.number)

    assert [i.number for i in _busiest_first(interfaces, rates)] == [i.number for i in sorted(interfaces, key=key)]


def test_rate_meter_two_samples():
    interface = make_interface(0)
    meter = RateMeter()
    assert meter.sample(0, [interface]) == {}
    interface.frames_out, interface.bytes_out = 100, 100 * 125
    rates = meter.sample(2 * S, [interface])
    assert rates[0].frames_per_s == pytest.approx(50.0)
    assert rates[0].bits_per_s == pytest.approx(100 * 125 * 8 / 2)  # 50,000 bit/s


def test_rate_meter_window_slides():
    interface = make_interface(0)
    meter = RateMeter(window_ns=3 * S)
    meter.sample(0, [interface])
    interface.frames_in, interface.bytes_in = 300, 30_000
    meter.sample(1 * S, [interface])
    rates = meter.sample(2 * S, [interface])
    assert rates[0].frames_per_s == pytest.approx(150.0)
    meter.sample(3 * S, [interface])
    rates = meter.sample(4 * S, [interface])  # window now starts at 1 s: the burst is out
    assert rates[0] == Rate(0.0, 0.0)
    interface.frames_in += 30
    interface.bytes_in += 3000
    rates = meter.sample(5 * S, [interface])  # samples from 2 s to 5 s
    assert rates[0].frames_per_s == pytest.approx(10.0)
    assert rates[0].bits_per_s == pytest.approx(8000.0)


def test_rate_meter_new_interface_counts_from_zero_and_clock_going_back_resets():
    old = make_interface(0)
    meter = RateMeter()
    meter.sample(0, [old])
    new = make_interface(1, (100, 1), (101, 1), frames=(40, 0), octets=(4000, 0))
    rates = meter.sample(S, [old, new])
    assert rates[1].frames_per_s == pytest.approx(40.0)
    assert rates[0].frames_per_s == 0
    assert meter.sample(S // 2, [old, new]) == {}


def test_make_console_writes_to_its_stream_only(capsys):
    stream = io.StringIO()
    console = make_console(stream)
    console.print("hello 123")
    assert stream.getvalue() == "hello 123\n"
    assert capsys.readouterr().out == ""


def test_dashboard_live_cycle(lab):
    stream = io.StringIO()
    console = Console(file=stream, width=120, height=40, force_terminal=True)
    board = Dashboard(console)
    threads = threading.active_count()
    board.start()
    assert threading.active_count() == threads  # no refresh thread
    status = make_status(lab)
    board.update(status)
    for link in lab:
        link.frames_out += 4
    status = make_status(lab, now_ns=NOW + S)  # a new snapshot each tick, as the capture takes
    board.update(status)
    out = stream.getvalue()
    assert "100:0/0-101:0/0" in out and "kill -HUP 4242" in out
    assert re.search(r"\s4\.0\s", out)  # 4 frames in one second on each live link
    board.stop()
    assert stream.getvalue().endswith("\x1b[?25h")
    board.stop()  # idempotent
    assert not board.running
    assert "total" in text_of(summary(status))


def test_dashboard_stop_without_start_and_update_before_start():
    stream = io.StringIO()
    board = Dashboard(Console(file=stream, width=80, height=20, force_terminal=True))
    board.update(make_status())
    assert stream.getvalue() == ""
    board.stop()
    board.stop()


# -- narrow and wide screens: what goes first, what never goes ------------------------------------------
def reload_lab():
    """The demo's kind of lab after a reload: one serial link twice (HDLC, then PPP), a 3-router segment."""
    links = [
        make_interface(0, (1, 0), (2, 0), 1, frames=(4000, 4100), octets=(400_000, 410_000), last_ns=NOW),
        make_interface(1, (1, 1), (2, 1), 104, frames=(380, 390), octets=(30_000, 31_000), last_ns=NOW - 9 * S),
        make_interface(2, (3, 33), (4, 33), 107, frames=(960, 960), octets=(60_000, 60_000), last_ns=NOW),
        make_interface(3, (1, 16), (3, 16), 1, frames=(1280, 2540), octets=(130_000, 260_000), last_ns=NOW),
        make_interface(4, (1, 1), (2, 1), 50, frames=(30, 30), octets=(2_500, 2_500), last_ns=NOW),
    ]
    links[1].replaced_by, links[1].successor = 4, links[4]
    shared = links[3]
    shared.endpoints = ((1, 16), (3, 16), (4, 16))
    shared.name = "1:0/1-3:0/1-4:0/1"
    shared.segment = Segment(4, tuple(Endpoint(i, p) for i, p in shared.endpoints))
    return links


def live_columns(lines):
    titles = next(line for line in lines if line.split()[:2] == ["#", "link"])
    return titles.replace("frames →", "frames→").replace("frames ←", "frames←").split()


LIVE_DROP_ORDER = ["bit/s", "bytes", "last", "frames/s", "frames→"]


@pytest.mark.parametrize("width", [200, 160, 120, 100, 90, 80, 70, 60, 50])
def test_live_columns_degrade_by_priority_and_link_and_type_never_go(width):
    status = make_status(reload_lab(), netio_dir="/tmp/netio1000", netmap="/home/lab/NETMAP",
                         events=[Event(NOW, "instance 1 attached")])
    rates = {0: Rate(50.0, 400_000.0), 2: Rate(16.0, 9000.0), 3: Rate(32.0, 30_000.0), 4: Rate(2.0, 1600.0)}
    lines = lines_of(render(status, rates, width, 24), width=width)
    assert len(lines) <= 24 and all(len(line) <= width for line in lines), lines
    columns = live_columns(lines)
    assert columns[:3] == ["#", "link", "type"] and columns[-1] == "state"
    gone = [name for name in LIVE_DROP_ORDER if name not in columns]
    assert gone == LIVE_DROP_ORDER[:len(gone)], (width, columns)  # the least useful go first
    if width >= 200:
        assert gone == []
    if width >= 80:
        assert "frames→" in columns and "frames/s" in columns  # counts and the frame rate stay at 80
    names = {"0": ("1:0/0-2:0/0", "ethernet"), "1": ("1:1/0-2:1/0", "hdlc"), "2": ("3:1/2-4:1/2", "frame-relay"),
             "3": ("1:0/1-3:0/1-4:0/1", "ethernet"), "4": ("1:1/0-2:1/0", "ppp")}
    rows = {line.split()[0]: line.split() for line in lines if re.match(r"^\d\s+\d:", line)}
    assert sorted(rows) == sorted(names)
    for number, (name, kind) in names.items():
        assert rows[number][1:3] == [name, kind], (width, rows[number])


@pytest.mark.parametrize("width", [200, 120, 100, 80, 72, 60])
def test_header_wraps_whole_facts_and_never_cuts_the_pid(width):
    status = make_status(reload_lab(), pid=1195432, netio_dir="/tmp/netio1000",
                         netmap="/home/someone/labs/a-rather-long-folder-name/of-a-lab/NETMAP", instances_down=[3])
    lines = lines_of(render(status, {}, width, 24), width=width)
    header = lines[: lines.index(next(line for line in lines if line.split()[:2] == ["#", "link"]))]
    assert 3 <= len(header) <= 6
    for fact in ("pid 1195432", "reload NETMAP: kill -HUP 1195432", "elapsed 1:02:03", "frames 1,234",
                 "instances: 3 attached (100, 101, 102) / 1 down (3)"):
        assert sum(fact in line for line in header) == 1, (width, fact, header)
    for line in header:
        assert len(line) <= width
        assert not re.search(r"\S…$", line), line  # nothing cropped at the edge
    if width >= 200:
        assert len(header) == 3


def test_a_long_path_in_the_header_is_shortened_in_the_middle():
    netmap = "/home/someone/labs/" + "deep/" * 20 + "NETMAP"
    lines = lines_of(render(make_status(reload_lab(), netmap=netmap), {}, 80, 40), width=80)
    shown = next(line for line in lines if line.startswith("NETMAP "))
    assert len(shown) <= 80 and "…" in shown and shown.endswith("NETMAP") and shown.startswith("NETMAP /home/")


def test_header_gives_way_to_rows_on_a_busy_lab():
    interfaces = [make_interface(n, (100 + n // 16, n % 16), (200 + n // 16, n % 16), frames=(n, n))
                  for n in range(40)]
    status = make_status(interfaces, netio_dir="/tmp/netio1000", netmap="/home/lab/NETMAP")
    lines = lines_of(render(status, {}, 80, 24), width=80)
    assert lines[3].split()[:2] == ["#", "link"] and "pid 4242" in "\n".join(lines[:3])
    assert len(lines) == 24


@pytest.mark.parametrize("width", [80, 120, 200])
def test_summary_puts_every_link_whole_on_one_line(width):
    links = reload_lab()
    status = make_status(links, output="/tmp/a-capture-file-with-a-long-name.pcapng")
    lines = lines_of(summary(status), width=width)
    assert all(len(line) <= width for line in lines), lines
    rows = [line for line in lines if re.match(r"^\d\s+\d:", line)]
    assert [line.split()[1:3] for line in rows] == [
        ["1:0/0-2:0/0", "ethernet"], ["1:1/0-2:1/0", "hdlc"], ["3:1/2-4:1/2", "frame-relay"],
        ["1:0/1-3:0/1-4:0/1", "ethernet"], ["1:1/0-2:1/0", "ppp"]]
    assert rows[1].rstrip().endswith("replaced by #4")
    total = [line for line in lines if line.split()[:1] == ["total"]]
    assert len(total) == 1 and "14,670" in total[0] and "1.32 MiB" in total[0]
    titles = next(line for line in lines if line.split()[:2] == ["#", "link"]).split()
    assert ("→" in titles) == (width >= 120)  # the directions go first on a narrow screen; the total stays
    assert "frames" in titles and "bytes" in titles


def test_a_link_whose_frames_contradict_its_written_type_is_marked():
    written_hdlc = make_interface(0, (100, 1), (101, 1), linktype=104, frames=(3, 0), last_ns=NOW)
    written_hdlc.mismatch = 50
    plain = make_interface(1, frames=(1, 0), last_ns=NOW)
    state = liveview._state(written_hdlc, NOW, set())
    assert state.plain == "active frames are ppp!" and "yellow" in str(state.spans[-1].style)
    assert liveview._state(plain, NOW, set()).plain == "active"
    lines = lines_of(render(make_status([written_hdlc, plain]), {}, 120, 40))
    assert row(lines, "100:1/0-101:1/0")[-3:] == ["frames", "are", "ppp!"]
    lines = lines_of(summary(make_status([written_hdlc, plain])), 140)
    assert row(lines, "100:1/0-101:1/0")[-3:] == ["frames", "are", "ppp!"]


def test_dashboard_gets_a_frozen_snapshot_not_the_live_links(lab):
    status = make_status(lab, events=[Event(NOW, "attached 100")])
    view = status.interfaces[0]
    assert not isinstance(view, Interface)
    with pytest.raises(AttributeError):
        view.frames_out = 0
    with pytest.raises(AttributeError):
        view.replaced_by = 9
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.now_ns += S
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.events[0].text = "changed"
    with pytest.raises(AttributeError):
        status.interfaces.append(view)  # a tuple
    shown = text_of(render(status, {}, 120, 40))
    # The capture goes on changing its links: a status already taken does not move.
    lab[0].frames_out += 1000
    lab[0].replaced_by = 9
    assert (view.frames_out, view.frames, view.replaced_by) == (120, 200, None)
    assert text_of(render(status, {}, 120, 40)) == shown
    assert (view.name, view.linktype_name, view.instances, view.unmapped) == (
        "100:0/0-101:0/0", lab[0].linktype_name, frozenset({100, 101}), False)


def test_a_tall_terminal_shows_as_many_events_as_fit(lab):
    """At 200x50 the event area showed 5 lines and left 30 rows blank (found by a newcomer)."""
    events = [Event(NOW - (60 - k) * S, f"event {k}") for k in range(60)]
    lines = lines_of(render(make_status(lab, events=events), {}, 200, 50), width=200)
    assert len(lines) == 50
    assert lines[-1].endswith("  event 59")
    table_end = max(n for n, line in enumerate(lines) if re.match(r"^\s*\d+\s+\d+:\d+/\d+-", line))
    assert all(line.split("  ", 1)[1].startswith("event ") for line in lines[table_end + 1:])
    assert len(lines) - table_end - 1 == 50 - 3 - 2 - len(lab)
    few = lines_of(render(make_status(lab, events=events[:3]), {}, 200, 50), width=200)
    assert [line.split("  ")[-1] for line in few[-3:]] == ["event 0", "event 1", "event 2"]


def test_at_60_columns_a_frames_column_remains(lab):
    """At 60 columns no per-link count remained, though their total fits (found by a newcomer)."""
    wide = lines_of(render(make_status(lab), {}, 120, 40))
    titles = next(line for line in wide if line.split()[:2] == ["#", "link"])
    assert "frames →" in titles and "frames ←" in titles and re.search(r"frames\s\s", titles) is None
    lines = lines_of(render(make_status(lab), {}, 60, 40), width=60)
    titles = next(line for line in lines if line.split()[:2] == ["#", "link"])
    assert "frames →" not in titles and titles.split()[:4] == ["#", "link", "type", "frames"], titles
    assert row(lines, "100:0/0-101:0/0")[:4] == ["0", "100:0/0-101:0/0", "ethernet", "200"]
    assert all(len(line) <= 60 for line in lines)
