"""``pcapng-iou bench``: a short real run reports sane, loss-free results; its checks catch faults.

Nothing here is timed: how fast is the benchmark's business, not the tests'.
The hot-path shortcuts that profiling led to are held equal to the general way.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import cli_command, short_tempdir
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapng_iou.bench import filecheck, report, workers
from pcapng_iou.core import blocks, netio
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.netmap import Netmap
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.sim.instance import Instance
from pcapng_iou.sim.peers import PeerStream, PeerTraffic

pytestmark = pytest.mark.bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT, PINGS, INSTANCES, SMALL, LARGE = 2000, 200, 20, 1000, 5000


@pytest.fixture(scope="module")
def result():
    command = cli_command("bench", "--json", "-q", "-c", str(COUNT), "--pings", str(PINGS),
                          "--instances", str(INSTANCES), "--memory", f"{SMALL}:{LARGE}", "--idle", "0.5", "-r", "1",
                          "--crowd", "2")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.mark.lab
def test_every_datagram_arrived_intact_and_every_file_holds_exactly_them(result):
    checks = result["checks"]
    assert checks["passed"] and result["ok"], checks["failures"]
    assert checks["failures"] == []
    assert checks["lost"] == 0 and checks["corrupt"] == 0
    warmup = result["settings"]["warmup_pings"]
    # A round floods COUNT frames and pings PINGS + warmup times, both directly and through us
    # (each ping is two datagrams); the memory part floods LARGE frames through us.
    # Two pairs at once flood COUNT frames in all too, both ways.
    sent = 2 * (COUNT + COUNT + 2 * (PINGS + warmup)) + LARGE
    assert checks["datagrams_sent"] == checks["datagrams_verified"] == sent
    assert checks["capture_files_checked"] == 2
    assert checks["frames_checked_in_files"] == COUNT + COUNT + 2 * (PINGS + warmup) + LARGE


@pytest.mark.lab
def test_rates_latencies_and_costs_are_sane(result):
    throughput, latency, cost = result["throughput"], result["latency"], result["cost"]
    assert throughput["frames_per_round"] == COUNT
    assert throughput["direct_fps"] > 0 and throughput["captured_fps"] > 0
    assert throughput["ratio"] == pytest.approx(throughput["captured_fps"] / throughput["direct_fps"], rel=0.01)
    crowd = throughput["crowd"]
    assert crowd["pairs"] == 2 and crowd["frames_per_round"] == COUNT
    assert crowd["ratio"] == pytest.approx(crowd["captured_fps"] / crowd["direct_fps"], rel=0.01)
    for side in ("direct", "captured"):
        assert 0 < latency[f"{side}_p50_us"] <= latency[f"{side}_p99_us"]
    assert latency["added_p50_us"] == pytest.approx(latency["captured_p50_us"] - latency["direct_p50_us"], abs=0.2)
    # CPU time comes in nanoseconds from /proc/PID/task/*/schedstat; else in ticks, maybe none in so short a run.
    assert cost["cpu_s_per_100k_frames"] > 0 or not os.path.exists("/proc/self/schedstat")
    assert cost["cpu_us_per_frame"] == pytest.approx(cost["cpu_s_per_100k_frames"] * 10, rel=0.01)
    assert 1 < cost["peak_rss_mb"] < 1000
    run, = result["runs"]
    assert run["direct_p50_us"] <= run["direct_p99_us"] and run["captured_p50_us"] <= run["captured_p99_us"]


@pytest.mark.lab
def test_memory_attach_and_idle_parts_report(result):
    memory = result["memory"]
    assert (memory["frames_small"], memory["frames_large"]) == (SMALL, LARGE)
    assert 1 < memory["peak_rss_small_mb"] <= memory["peak_rss_large_mb"]  # a peak never goes down
    assert memory["growth_mb"] == pytest.approx(memory["peak_rss_large_mb"] - memory["peak_rss_small_mb"], abs=0.02)
    attach = result["attach"]
    assert attach["instances"] == INSTANCES and attach["netmap_lines"] == INSTANCES * 4 // 2
    assert attach["attach_s"] > 0
    assert 0 <= attach["attach_after_startup_s"] <= attach["attach_s"]
    assert 0 <= result["idle"]["cpu_percent"] < 100


@pytest.mark.lab
def test_targets_are_judged_not_enforced(result):
    names = [t["name"] for t in result["targets"]]
    assert len(names) == 7 and any("ratio" in n for n in names) and any("CPU per frame" in n for n in names)
    assert any("ratio" in n for n in names) and any("idle" in n for n in names)
    for target in result["targets"]:
        assert isinstance(target["met"], bool) and target["value"] is not None


@pytest.mark.lab
def test_table_shows_every_part(result):
    table = report.format_table(result)
    for text in ("throughput, frames/s", "ratio through us / direct", "2 pairs at once", "round trip p50", "added p99",
                 "capture CPU per 100 000 frames", f"peak RSS after {LARGE:,} frames".replace(",", " "),
                 f"attach {INSTANCES} instances x 4 links", "idle CPU", "0 lost, 0 corrupt", "passed"):
        assert text in table, table


def test_bench_is_a_subcommand_with_checked_options():
    from pcapng_iou.app.cli import build_parser

    args = build_parser().parse_args(["bench", "--frame-size", "64", "-c", "10", "-p", "2", "--skip", "memory,idle"])
    assert (args.size, args.count, args.pairs, args.skip) == (64, 10, 2, [["memory", "idle"]])
    assert build_parser().parse_args(["bench", "--size", "80"]).size == 80  # its former name still works
    # -s is the capture's snap length (as dumpcap's): the bench has no -s (found by a newcomer)
    for bad in (["-s", "64"], ["--frame-size", "10"], ["--memory", "5:5"], ["--skip", "nothing"], ["-c", "0"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["bench", *bad])


@pytest.mark.lab
def test_bench_spin_reaches_the_capture_it_starts_and_its_table(result, workdir):
    from pcapng_iou.app.bench_options import settings_from
    from pcapng_iou.bench.run import Bench
    from pcapng_iou.app.cli import build_parser

    assert result["settings"]["spin_us"] == 200 and "--spin" not in report.format_table(result)
    bench = Bench(settings_from(build_parser().parse_args(["bench", "--spin", "300"])))
    netmap_path = os.path.join(workdir, "NETMAP")
    with open(netmap_path, "w") as handle:
        handle.write("1:0/0 2:0/0\n")
    try:
        capture = bench.capture_run(os.path.join(workdir, "missing"), os.path.join(workdir, "out.pcapng"),
                                    netmap_path)
        # The capture took the option (a usage error would be status 2): it failed on the missing directory.
        assert capture.process.wait(60) == 1, capture.text()
        capture.stop()
    finally:
        bench.close()
    assert capture.process.args[-2:] == ["--spin", "300"]
    spun = dict(result, settings=dict(result["settings"], spin_us=300))
    assert report.format_table(spun).splitlines()[0].endswith(", capture --spin 300")


@pytest.mark.lab
def test_other_commands_do_not_load_the_benchmark():
    # A fresh interpreter: parse a capture command line, then list the bench modules it loaded.
    probe = ("import sys; from pcapng_iou.app.cli import build_parser; build_parser().parse_args(['capture', '-q']); "
             "print(sorted(m for m in sys.modules if m.startswith('pcapng_iou.bench')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['pcapng_iou.bench', 'pcapng_iou.bench.settings']"


def descendants(pid: int) -> set:
    """Every process below ``pid``, from /proc."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as handle:
                children = {int(child) for child in handle.read().split()}
        except OSError:  # gone meanwhile: FileNotFoundError, or ProcessLookupError once reaped
            continue
        todo.extend(children - found)
        found |= children
    return found


def command_line(pid: int) -> list:
    """The words ``pid`` was started with; none if it has ended meanwhile (as the bench's workers do)."""
    try:
        with open(f"/proc/{pid}/cmdline") as handle:
            return handle.read().split("\0")
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.lab
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_stopped_bench_leaves_no_process_and_no_files_behind(signum):
    # the memory part floods one capture for minutes: stopped a moment after it starts
    command = cli_command("bench", "--skip", "throughput,latency,attach,idle",
                          "--memory", "1000:100000000")
    bench_run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: set = set()
    workdir = ""
    try:
        assert "memory:" in bench_run.stderr.readline()
        deadline = time.monotonic() + 30
        while True:
            children = descendants(bench_run.pid)
            commands = [command_line(child) for child in children]
            captures = [words for words in commands if "capture" in words]
            if captures:
                netio_dir = captures[0][captures[0].index("-d") + 1]
                if any(name.endswith("_real") for name in os.listdir(netio_dir)):
                    break
            assert time.monotonic() < deadline, commands
            time.sleep(0.05)
        time.sleep(0.5)
        workdir = os.path.dirname(netio_dir)
        bench_run.send_signal(signum)
        code = bench_run.wait(60)
        rest = bench_run.stderr.read()
        assert code == 1
        assert f"stopped by {signal.Signals(signum).name}" in rest
        deadline = time.monotonic() + 10
        while any(alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [child for child in children if alive(child)]
        assert not os.path.exists(workdir)
    finally:
        for pid in [bench_run.pid, *children]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        bench_run.wait()
        bench_run.stdout.close()
        bench_run.stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)


# -- the checks catch what they are there for ------------------------------------------
class BenchInstance:
    """A simulated instance and its peer commands, in this process, as a worker runs them."""

    def __init__(self, directory: str, number: int):
        self.instance = Instance(directory, number, Netmap())
        self.instance.start()
        self.traffic = PeerTraffic(directory, number, self.instance.sock)

    def __getattr__(self, verb: str):
        if verb in ("flood", "sink", "ping", "echo"):
            return lambda peer, count: self.traffic.command(verb, peer, count, 100)
        raise AttributeError(verb)

    def stop(self) -> None:
        self.traffic.close()
        self.instance.stop()


@pytest.fixture
def pair():
    directory = short_tempdir("bench")
    a, b = BenchInstance(directory, 1), BenchInstance(directory, 2)
    yield a, b
    a.stop()
    b.stop()
    os.rmdir(directory)


@pytest.mark.lab
def test_instances_look_like_iou(pair):
    a = pair[0].instance
    # Seen from another process (as the capture sees it), the lock is held and names our pid.
    # (Not read from here: closing any descriptor of the file would drop this process's lock.)
    probe = ("import sys; from pcapng_iou.shell import netiodir; "
             "print(netiodir.lock_state(sys.argv[1]), open(sys.argv[1]).read().strip())")
    done = subprocess.run([sys.executable, "-c", probe, a.lock_path], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.split() == ["True", str(os.getpid())], done.stderr
    assert netio.MIN_ID <= a.instance <= netio.MAX_ID and os.path.exists(a.path)


def test_receiver_counts_a_missing_and_an_altered_datagram(pair):
    a, b = pair
    assert a.flood(2, 5)["sent"] == 5
    got = b.sink(1, 5)
    assert (got["good"], got["bad"], got["error"]) == (5, 0, None)
    stream = a.traffic.stream(1, 2)
    altered = bytearray(stream.datagram(7))
    altered[-1] ^= 1
    for datagram in (stream.datagram(5), stream.datagram(6), bytes(altered), stream.datagram(9)):  # 8 is missing
        a.traffic.sender.sendto(datagram, b.instance.path)
    got = b.sink(1, 4)
    assert (got["good"], got["bad"]) == (2, 2)  # 7 altered; 9 is not the 8 that was due
    assert b.traffic.next_in[1] == 10  # it goes on after the gap


def test_ping_and_echo_check_both_ways(pair):
    import threading

    a, b = pair
    answered = {}
    echo = threading.Thread(target=lambda: answered.update(b.echo(1, 20)))
    echo.start()
    result = a.ping(2, 20)
    echo.join(10)
    assert len(result["rtts_ns"]) == 20 and result["bad"] == 0 and result["error"] is None
    assert all(rtt > 0 for rtt in result["rtts_ns"])
    assert answered == {"good": 20, "bad": 0, "error": None}


@pytest.mark.lab
def test_a_worker_is_the_simulated_instance_started_as_iou_is():
    directory = short_tempdir("bench")
    worker = workers.Worker.instance(directory, 101, 100)
    try:
        workers.start_workers([worker])
        with open(f"/proc/{worker.pid}/cmdline", "rb") as handle:
            argv = handle.read().rstrip(b"\0").split(b"\0")
        assert argv[1:3] == [b"-m", b"pcapng_iou.sim.instance"] and argv[-1] == b"101"
        assert worker.ask("flood 102 3") == {"sent": 0, "start_ns": pytest.approx(0, abs=10 ** 20),
                                             "end_ns": pytest.approx(0, abs=10 ** 20),
                                             "error": "No such file or directory"}
    finally:
        worker.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _capture_bytes(streams_and_spans) -> bytes:
    netmap = netmap_mod.parse("".join(f"{s.src}:0/0 {s.dst}:0/0\n" for s, _ in streams_and_spans), "NETMAP")
    recorder = Recorder(netmap)
    out = recorder.start()
    for stream, (first, count) in streams_and_spans:
        for seq in range(first, first + count):
            out += recorder.datagram(stream.datagram(seq), 1_700_000_000_000_000_000 + seq)
    return out + recorder.statistics(1_800_000_000_000_000_000, 1_700_000_000_000_000_000)


def test_file_check_finds_changed_missing_and_extra_frames(tmp_path):
    stream = PeerStream(101, 301, 100)
    path = tmp_path / "f.pcapng"
    path.write_bytes(_capture_bytes([(stream, (0, 50))]))

    def check(first=0, count=50):
        return filecheck.check_capture_file(str(path), [filecheck._flood_frames(stream, [(first, count)])])

    good = check()
    assert good.ok and good.frames == 50 and good.interfaces == 1 and good.statistics_blocks == 1
    assert not check(count=51).ok and check(count=51).missing == 1
    assert not check(count=49).ok and check(count=49).wrong == 1
    assert not check(first=1).ok
    data = bytearray(path.read_bytes())
    data[data.index(stream.frame(20)) + 40] ^= 0xFF
    path.write_bytes(bytes(data))
    assert check().wrong == 1
    path.write_bytes(bytes(data[:-30]))
    assert not check().ok


def test_herd_netmap_gives_every_instance_its_links():
    for count, links in ((200, 4), (7, 3), (20, 1), (3, 2)):
        lines = workers.herd_netmap(count, links)
        parsed = netmap_mod.parse("\n".join(lines) + "\n", "NETMAP")
        endpoints = [e.key for segment in parsed for e in segment.endpoints]
        assert len(endpoints) == len(set(endpoints)) == count * links
        assert {instance for instance, _ in endpoints} == set(range(1, count + 1))


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert report.percentile(values, 50) == 50 and report.percentile(values, 99) == 99
    assert report.percentile([5], 99) == 5


# -- the shortcuts of the hot path make the same bytes as the general way ---------------------
@given(st.binary(max_size=300), st.sampled_from([blocks.INBOUND, blocks.OUTBOUND, 3]),
       st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_usual_packet_block_is_the_general_one(frame, flags, timestamp, interface):
    general = (blocks._FLAGS_OPTION.pack(blocks.EPB_FLAGS, 4, flags) + b"\x00" * 4)
    captured = len(frame)
    total = 32 + captured + (-captured & 3) + len(general)
    expected = (blocks._EPB_FIXED.pack(blocks.EPB_TYPE, total, interface, timestamp >> 32, timestamp & 0xFFFFFFFF,
                                       captured, captured)
                + frame + b"\x00" * (-captured & 3) + general + total.to_bytes(4, "little"))
    assert blocks.enhanced_packet(interface, timestamp, frame, flags) == expected
    assert blocks.enhanced_packet(interface, timestamp, frame, flags, ["x"]) != expected


class _NoCache(dict):
    """A route cache that never answers: every datagram takes the general way."""

    def get(self, key, default=None):
        return default


ENDPOINTS = [(100, 0), (101, 0), (100, 16), (102, 16), (103, 1), (104, 1), (105, 1), (106, 2), (107, 2)]
#: Few distinct frames, so that shared-segment copies (same sender, same bytes) come up.
FRAMES = st.sampled_from([b"\x0f\x00\x80\x35" + bytes(16), b"\xff\x03\xc0\x21" + bytes(8), bytes(14)]) | st.binary(max_size=40)


def assert_same_counts(recorder: Recorder, general: Recorder) -> None:
    """Every interface and the recorder itself counted the same frames, bytes and times."""
    assert len(recorder.links.interfaces) == len(general.links.interfaces)
    for a, b in zip(recorder.links.interfaces, general.links.interfaces):
        assert (a.frames_in, a.frames_out, a.bytes_in, a.bytes_out, a.first_ns, a.last_ns, a.undelivered) == \
               (b.frames_in, b.frames_out, b.bytes_in, b.bytes_out, b.first_ns, b.last_ns, b.undelivered)
    assert (recorder.frames_recorded, recorder.shared_copies, recorder.undelivered) == \
           (general.frames_recorded, general.shared_copies, general.undelivered)


def fast_and_general_recorders(auto: bool) -> tuple:
    """Two recorders of one NETMAP (with an ``auto`` line or not), started: one as it is, one kept
    off every shortcut (no route cache), to compare their bytes and counts."""
    text = "100:0/0 101:0/0\n100:0/1 102:0/1 hdlc\n103:1/0 104:1/0 105:1/0\n"
    if auto:
        text += "106:2/0 107:2/0 auto\n"
    netmap = netmap_mod.parse(text, "NETMAP")
    fast, general = Recorder(netmap), Recorder(netmap)
    general.links.route_cache = _NoCache()
    assert fast.start() == general.start()
    return fast, general


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS), FRAMES,
                          st.sampled_from([1, 1, 1, 0]), st.sampled_from([None, None, None, "gone"]),
                          st.sampled_from([None, None, None, None, 100, 104])), max_size=40),
       st.booleans())
def test_recorder_shortcut_records_as_the_general_way(traffic, auto):
    fast, slow = fast_and_general_recorders(auto)
    for number, (src, dst, frame, kind, undelivered, note) in enumerate(traffic):
        if note is not None:
            fast.annotate(note, f"note {number}")
            slow.annotate(note, f"note {number}")
        datagram = netio.Header(dst[0], src[0], dst[1], src[1], kind).pack() + frame
        assert fast.datagram(datagram, number, undelivered) == slow.datagram(datagram, number, undelivered)
    assert_same_counts(fast, slow)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS), FRAMES,
                          st.sampled_from([1, 1, 1, 0]), st.sampled_from([None, None, None, "gone"]),
                          st.integers(min_value=1, max_value=4)), max_size=30),
       st.lists(st.integers(min_value=1, max_value=12), min_size=1), st.booleans(), st.booleans())
def test_recorder_batches_record_as_frame_by_frame_the_general_way(traffic, batch_sizes, auto, one_time_a_batch):
    """Batches (where frames of one route take the fast lanes, in runs when a batch was read at once and has
    one time) give the bytes and counts of the general way."""
    batched, slow = fast_and_general_recorders(auto)
    traffic = [item[:5] for item in traffic for _ in range(item[5])]  # the same frame a few times in a row
    datagrams = [netio.Header(dst[0], src[0], dst[1], src[1], kind).pack() + frame
                 for src, dst, frame, kind, _ in traffic]
    reasons = [undelivered for *_, undelivered in traffic]
    chunks, times, start = [], [], 0
    for size in batch_sizes * (len(datagrams) // len(batch_sizes) + 1):
        if start >= len(datagrams):
            break
        chunks.append(slice(start, start + size))
        count = len(datagrams[chunks[-1]])
        times += [start + 1] * count if one_time_a_batch else list(range(start + 1, start + 1 + count))
        start += size
    expected = b"".join(slow.datagram(d, t, r) for d, t, r in zip(datagrams, times, reasons))
    got = [batched.record(datagrams[chunk], times[chunk], None if not any(reasons[chunk]) else reasons[chunk])
           for chunk in chunks]
    assert b"".join(got) == expected
    assert_same_counts(batched, slow)


def test_recorder_shortcut_leaves_shared_segment_copies_out():
    """Once routes are cached, each transmission on a shared segment is still recorded once."""
    netmap = netmap_mod.parse("103:1/0 104:1/0 105:1/0\n", "NETMAP")
    fast, slow = Recorder(netmap), Recorder(netmap)
    slow.links.route_cache = _NoCache()
    fast.start(), slow.start()
    out = {id(fast): [], id(slow): []}
    for number in range(6):
        frame = bytes([number]) * 20
        for dst in (104, 105):
            datagram = netio.Header(dst, 103, 1, 1).pack() + frame
            for recorder in (fast, slow):
                out[id(recorder)].append(recorder.datagram(datagram, number))
    assert out[id(fast)] == out[id(slow)]
    assert fast.frames_recorded == slow.frames_recorded == 6 and fast.shared_copies == 6


def test_rounds_that_spread_too_wide_are_called_noisy():
    steady = [{"ratio": 0.50, "added_p50_us": 50.0}, {"ratio": 0.52, "added_p50_us": 52.0},
              {"ratio": 0.51, "added_p50_us": 51.0}]
    ranges, noisy = report.spreads(steady)
    assert ranges == {"ratio": [0.5, 0.52], "added_p50_us": [50.0, 52.0]} and noisy == []
    shaky = steady + [{"ratio": 0.30, "added_p50_us": 51.0}]
    ranges, noisy = report.spreads(shaky)
    assert ranges["ratio"] == [0.3, 0.52]
    assert len(noisy) == 1 and noisy[0].startswith("throughput ratio spread") and "0.3 to 0.52" in noisy[0]
    assert report.spreads([{"ratio": 0.1}]) == ({"ratio": [0.1, 0.1]}, [])  # one round: no spread to judge
