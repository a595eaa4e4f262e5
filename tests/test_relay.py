"""Our socket in an instance's place, on real sockets: reading and sending on in batches."""
from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import need, short_tempdir

from pcapng_iou.shell import handover, mmsg, relay

INSTANCE = 100


@pytest.fixture
def lab():
    """A netio directory with one instance socket (bound by the test), a peer, and us attached."""
    directory = short_tempdir("relay")
    instance = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    instance.bind(os.path.join(directory, str(INSTANCE)))
    instance.settimeout(5)
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    proxy = relay.attach(directory, INSTANCE)
    yield directory, instance, peer, proxy
    proxy.close()
    instance.close()
    peer.close()
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)


def datagrams(count: int, size: int = 100) -> list:
    return [i.to_bytes(4, "big") * (size // 4) for i in range(count)]


def queue_limit() -> int:
    """How many datagrams the kernel queues for one unix datagram socket."""
    with open("/proc/sys/net/unix/max_dgram_qlen") as handle:
        return int(handle.read()) + 1


def test_receive_batch_reads_what_waits_in_order(lab):
    directory, _, peer, proxy = lab
    sent = datagrams(5)
    for datagram in sent:
        peer.sendto(datagram, os.path.join(directory, str(INSTANCE)))
    first, first_times = proxy.receive_batch(3)
    rest, rest_times = proxy.receive_batch(64)
    assert first + rest == sent
    times = first_times + rest_times
    assert len(times) == 5 and times == sorted(times)
    assert proxy.receive_batch(64) == ([], [])


def test_a_lone_read_takes_one_datagram_and_leaves_the_rest_waiting(lab):
    directory, _, peer, proxy = lab
    assert proxy.receive_batch(1) == ([], [])  # nothing there: no exception either
    sent = datagrams(3)
    for datagram in sent:
        peer.sendto(datagram, os.path.join(directory, str(INSTANCE)))
    first, first_times = proxy.receive_batch(1)
    assert first == sent[:1] and len(first_times) == 1
    rest, rest_times = proxy.receive_batch(64)
    assert rest == sent[1:]
    assert first_times + rest_times == sorted(first_times + rest_times)


def test_forward_batch_delivers_in_order(lab):
    _, instance, _, proxy = lab
    sent = datagrams(5)
    assert proxy.forward_batch(sent) is None
    assert [instance.recv(4096) for _ in sent] == sent
    assert not proxy.pending


def test_forward_batch_queues_the_rest_when_the_instance_queue_is_full(lab):
    _, instance, _, proxy = lab
    sent = datagrams(queue_limit() + 20)
    assert proxy.forward_batch(sent) is None
    assert proxy.pending
    taken = len(sent) - len(proxy.pending)
    # once the queue is full, later datagrams wait behind the first one queued, never beside it
    assert list(proxy.pending) == sent[taken:]
    assert proxy.forward_batch(datagrams(2, 8)) is None
    assert list(proxy.pending)[-2:] == datagrams(2, 8)
    arrived = [instance.recv(4096) for _ in range(taken)]
    flushed = proxy.flush_pending()[0]
    while proxy.pending:
        arrived.append(instance.recv(4096))
        flushed += proxy.flush_pending()[0]
    arrived += [instance.recv(4096) for _ in range(len(sent) + 2 - len(arrived))]
    assert arrived == sent + datagrams(2, 8)
    assert flushed == sent[taken:] + datagrams(2, 8)  # what was sent from the queue, for the capture to record


def _burst(directory, peer, count):
    """``count`` datagrams sent by a peer to our socket (no more than its queue holds), to be read as a burst."""
    sent = datagrams(count)
    for datagram in sent:
        peer.sendto(datagram, os.path.join(directory, str(INSTANCE)))
    return sent


def _burst_waits_for_the_instance_to_make_room(lab, monkeypatch) -> None:
    """The instance's queue full, a burst for it read, and the instance taking from its queue a moment
    later: the whole burst goes on, none of it held."""
    directory, instance, peer, proxy = lab
    monkeypatch.setattr(relay, "ROOM_PATIENCE_S", 5.0)  # (patient enough for a thread started under load)
    limit = queue_limit()
    for datagram in datagrams(limit):  # the instance's queue full before the burst
        proxy.forward(datagram)
    assert not proxy.pending
    sent = _burst(directory, peer, min(limit, 8))
    taken = []
    reader = threading.Timer(0.05, lambda: taken.extend(instance.recv(4096) for _ in range(limit)))
    reader.start()
    _, _, reasons, held = proxy.relay_waiting(mmsg.shared())
    reader.join()
    assert (reasons, held) == (None, 0) and not proxy.pending
    assert [instance.recv(4096) for _ in sent] == sent


def test_a_burst_waits_a_moment_for_an_instance_that_is_taking_from_its_full_queue(lab, monkeypatch):
    _burst_waits_for_the_instance_to_make_room(lab, monkeypatch)


@pytest.fixture
def crowded():
    """The process's lowest free descriptors above 1024, where ``select`` cannot look: a capture with
    hundreds of instances attached gets such descriptors for the next ones."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:  # (a stock shell's 1024; root may raise the hard limit too)
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, max(hard, 2048)))
    fillers = []
    while not fillers or fillers[-1] < 1030:
        fillers.append(os.open(os.devnull, os.O_RDONLY))
    yield
    for fd in fillers:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_burst_waits_for_room_on_a_descriptor_above_what_select_takes(crowded, lab, monkeypatch):
    assert lab[3].forwarder_fd >= 1024
    _burst_waits_for_the_instance_to_make_room(lab, monkeypatch)


def test_a_burst_holds_the_rest_for_a_stalled_instance_after_a_moment(lab):
    directory, instance, peer, proxy = lab
    limit = queue_limit()
    for datagram in datagrams(limit):
        proxy.forward(datagram)
    sent = _burst(directory, peer, min(limit, 8))
    started = time.monotonic()
    _, _, reasons, held = proxy.relay_waiting(mmsg.shared())
    waited = time.monotonic() - started
    assert reasons is None and held == len(sent) and list(proxy.pending) == sent
    assert waited >= relay.ROOM_PATIENCE_S  # it did wait for room before holding them


def test_forward_batch_says_why_when_the_instance_is_gone(lab):
    _, instance, _, proxy = lab
    instance.close()
    reasons = proxy.forward_batch(datagrams(3))
    # the first send learns why (a dead peer says so once), the others know it is down
    assert reasons == [f"instance {INSTANCE} is down (connection refused)"] + [f"instance {INSTANCE} is down"] * 2
    assert proxy.instance_gone and not proxy.pending


def test_forward_batch_refuses_an_oversized_datagram_and_goes_on(lab):
    _, instance, _, proxy = lab
    proxy.forwarder.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    small = datagrams(2)
    reasons = proxy.forward_batch([small[0], b"x" * 60000, small[1]])
    assert reasons is not None
    assert reasons[0] is None and reasons[2] is None
    assert reasons[1] == f"instance {INSTANCE} refused it (message too long)"
    assert [instance.recv(65536) for _ in small] == small


def test_detach_sends_on_everything_before_giving_the_name_back(lab, monkeypatch):
    """Issue 18: once ``<id>`` is the instance's again, peers' next datagrams go straight to it, so
    all that reached us before must be in the instance's queue by then (it was sent on after)."""
    directory, instance, peer, proxy = lab
    path = os.path.join(directory, str(INSTANCE))
    sent = datagrams(6)
    for datagram in sent[:2]:
        peer.sendto(datagram, path)
    read, _ = proxy.receive_batch(2)
    proxy.pending.extend(read)  # held back, as when the instance's queue was full
    for datagram in sent[2:]:
        peer.sendto(datagram, path)  # and four still unread in our socket
    queued_at_rename = []
    real_rename = os.rename

    def rename(source, target, **at):
        instance.setblocking(False)
        try:
            while True:
                queued_at_rename.append(instance.recv(4096))
        except BlockingIOError:
            pass
        real_rename(source, target, **at)

    monkeypatch.setattr(relay.os, "rename", rename)
    handed, times, reasons = relay.detach(proxy)
    assert queued_at_rename == sent
    # the two held back are recorded now that they are delivered, then the four read here
    assert handed == sent and reasons == [None] * 6 and len(times) == 6
    peer.sendto(b"next" * 25, path)
    instance.setblocking(True)
    assert instance.recv(4096) == b"next" * 25


def test_a_datagram_aimed_at_us_just_before_the_rename_is_not_overtaken(lab, monkeypatch):
    """Issue 18: a peer that looked ``<id>`` up just before the name went back must not see its next
    datagram, sent straight to the instance, arrive first.  The hook sends at the worst moments."""
    directory, instance, peer, proxy = lab
    path = os.path.join(directory, str(INSTANCE))
    peer.setblocking(False)
    first, second = b"first" * 20, b"second" * 20
    refused_before_rename = []
    real_rename = os.rename

    def rename(source, target, **at):
        try:
            peer.sendto(first, path)
            refused_before_rename.append(False)
        except BlockingIOError:
            refused_before_rename.append(True)  # a waiting sender, as IOU's blocking send is
        real_rename(source, target, **at)
        if refused_before_rename[0]:
            peer.sendto(first, path)
        peer.sendto(second, path)

    monkeypatch.setattr(relay.os, "rename", rename)
    relay.detach(proxy)
    assert refused_before_rename == [True] and proxy.sealed
    instance.setblocking(False)
    assert [instance.recv(4096), instance.recv(4096)] == [first, second]


@pytest.mark.lab
@pytest.mark.parametrize("linger", [False, True], ids=["closed at once", "lingering"])
def test_a_peer_waiting_on_our_sealed_socket_goes_on_to_the_instance(linger, lab, monkeypatch):
    """A blocking send held by our full queue at the rename is not lost with our socket: once our
    socket is closed (at once, or after lingering), it looks ``<id>`` up again and reaches the instance."""
    directory, instance, _, proxy = lab
    path = os.path.join(directory, str(INSTANCE))
    waiting = []
    real_rename = os.rename

    def rename(source, target, **at):
        sender = subprocess.Popen([sys.executable, "-c", "import socket, sys\n"
                                   "socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'held' * 25, sys.argv[1])",
                                   path])
        waiting.append(waits_for_room(sender))
        real_rename(source, target, **at)
        waiting.append(sender)

    monkeypatch.setattr(relay.os, "rename", rename)
    lingering = [] if linger else None
    relay.detach(proxy, lingering=lingering)
    held, sender = waiting
    assert held, "the sender should wait while our socket is sealed"
    if linger:
        assert len(lingering) == 1
        time.sleep(0.3)
        assert sender.poll() is None, "the sender should wait while our sealed socket lingers"
        lingering.pop().close()
    assert sender.wait(10) == 0
    assert instance.recv(4096) == b"held" * 25


def waits_for_room(process: subprocess.Popen, timeout: float = 20.0) -> bool:
    """Whether ``process`` comes to sleep in the kernel waiting for room at a full socket (within
    ``timeout``), rather than having sent and exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/wchan") as handle:
                if handle.read().strip() == "unix_wait_for_peer":
                    return True
        except OSError:
            pass
        time.sleep(0.01)
    return False


def test_a_peer_that_found_our_name_just_before_the_rename_is_not_refused(lab):
    """A send looks the name up first and the socket behind it a moment later.  A peer that found
    ``<id>`` (our socket) just before the rename must not find that socket closed: the kernel would
    refuse the send (ECONNREFUSED) and the frame would be lost.  An O_PATH descriptor taken before the
    rename holds the name's old target, as such a send does between its two steps."""
    directory, instance, peer, proxy = lab
    path = os.path.join(directory, str(INSTANCE))
    found_before_rename = os.open(path, os.O_PATH)
    try:
        lingering = []
        relay.detach(proxy, lingering=lingering)
        assert proxy.sealed and len(lingering) == 1
        assert lingering[0].until - time.monotonic() <= relay.LINGER_S
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):  # our socket is still there, full: the peer tries again ...
            peer.sendto(b"late" * 25, f"/proc/self/fd/{found_before_rename}")
        peer.sendto(b"late" * 25, path)  # ... looking the name up again: the instance
        instance.setblocking(False)
        assert instance.recv(4096) == b"late" * 25
        lingering.pop().close()
        # What that peer met before: our socket closed at once, the send refused.
        with pytest.raises(ConnectionRefusedError):
            peer.sendto(b"lost" * 25, f"/proc/self/fd/{found_before_rename}")
    finally:
        os.close(found_before_rename)


def test_the_queue_capacity_is_what_the_kernel_allows(lab):
    assert relay.queue_capacity() == queue_limit()


SEAL_IN_NAMESPACE = r"""
import json, os, socket, sys, tempfile
from pcapng_iou.shell import relay
with open("/proc/sys/net/unix/max_dgram_qlen", "w") as handle:
    handle.write(sys.argv[1])
directory = tempfile.mkdtemp(prefix="seal")
instance = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
instance.bind(os.path.join(directory, "100"))
proxy = relay.attach(directory, 100)
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x" * 100, os.path.join(directory, "100"))
read, _, reasons = relay.detach(proxy)
print(json.dumps({"capacity": relay.queue_capacity(), "sealed": proxy.sealed, "read": len(read),
                  "delivered": instance.recv(4096) == b"x" * 100}))
"""


@pytest.mark.lab
@pytest.mark.parametrize("queue_length", [512, 100000])
def test_the_seal_is_not_pretended_when_one_socket_cannot_fill_a_queue(queue_length):
    """``net.unix.max_dgram_qlen`` is 512 on many systems, and may be set higher still: the empty
    datagrams one socket can have queued are bounded by its send buffer.  Run in a network namespace
    of its own (its own sysctl), as root."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        need("needs root and unshare (util-linux)")
    done = subprocess.run([unshare, "--net", sys.executable, "-c", SEAL_IN_NAMESPACE, str(queue_length)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["read"] == 1 and result["delivered"]
    if queue_length == 512:
        assert (result["capacity"], result["sealed"]) in ((513, True), (0, False))
    else:
        assert (result["capacity"], result["sealed"]) == (0, False)


class _Log:
    """What Instances says, written down."""

    def __init__(self):
        self.said = []

    def say(self, text, level="info"):
        self.said.append(text)


def test_a_stop_closes_each_sealed_socket_a_moment_after_its_name_went_back(make_lab, monkeypatch):
    """Giving every instance back: each sealed socket stays open LINGER_S after its rename (a send
    that found it just before is not refused), and is closed as the stop goes on, not all at the end
    (the peers it holds would wait for the whole stop)."""
    from pcapng_iou.shell.instances import Instances
    from pcapng_iou.shell.poller import Poller

    lab = make_lab("100:0/0 101:0/0\n")
    poller, log = Poller(), _Log()
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer.setblocking(False)
    found = {}
    try:
        instances = Instances(lab.directory, None, poller, log.say)
        instances.rescan()
        assert sorted(instances.proxies) == [100, 101], log.said
        found = {n: os.open(os.path.join(lab.directory, str(n)), os.O_PATH) for n in (100, 101)}
        seen = []
        real_detach = relay.detach

        def slow_detach(proxy, *args, **kwargs):
            lingering_before = len(instances.lingering)
            result = real_detach(proxy, *args, **kwargs)
            try:
                peer.sendto(b"x", f"/proc/self/fd/{found[proxy.instance]}")
                met = "taken"
            except OSError as err:
                met = type(err).__name__
            seen.append((proxy.instance, lingering_before, proxy.sealed, met))
            time.sleep(relay.LINGER_S * 1.5)  # a slow one: the moment of the socket before it passes
            return result

        monkeypatch.setattr(relay, "detach", slow_detach)
        started = time.monotonic()
        instances.give_back_all()
        # Right after each rename, the sealed socket is still there (full: "try again"), and when 101
        # is given back, 100's was already closed.
        assert seen == [(100, 0, True, "BlockingIOError"), (101, 0, True, "BlockingIOError")], seen
        assert time.monotonic() - started >= 3 * relay.LINGER_S
        assert instances.lingering == []
        for number in (100, 101):  # closed now: what such a send met before, at once
            with pytest.raises(ConnectionRefusedError):
                peer.sendto(b"x", f"/proc/self/fd/{found[number]}")
        assert sorted(os.listdir(lab.directory)) == ["100", "100.lck", "101", "101.lck"]
    finally:
        for fd in found.values():
            os.close(fd)
        peer.close()
        poller.close()


def test_a_slow_instance_is_never_sent_the_empty_datagrams_of_a_seal_that_gave_up(lab, monkeypatch):
    """At the stop, an instance that is slow but alive (one frame every 0.3 s) is handed 8 frames:
    each comes well within the patience, all of them take longer than it.  A peer sends a frame just
    as our socket is sealed.  The instance gets what the peers sent and nothing else: no empty
    datagram of the seal (found by a review: the seal's deadline had run out before it began, and
    what it left in our queue was sent on)."""
    directory, instance, peer, proxy = lab
    path = os.path.join(directory, str(INSTANCE))
    assert relay.queue_capacity() > 0
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # fills the instance's queue first
    busy.setblocking(False)
    before = []
    try:
        while True:
            busy.sendto(b"old%04d" % len(before) + bytes(60), proxy.paths.real)
            before.append(b"old%04d" % len(before) + bytes(60))
    except BlockingIOError:
        pass
    finally:
        busy.close()
    sent = [b"peer%04d" % n + bytes(60) for n in range(8)]
    for datagram in sent:
        peer.sendto(datagram, path)
    got: list = []
    done = threading.Event()

    def slow_instance():
        instance.settimeout(0.05)
        for _ in range(12):
            time.sleep(0.3)
            got.append(instance.recv(8192))
        while not done.is_set():
            try:
                got.append(instance.recv(8192))
            except socket.timeout:
                pass

    reader = threading.Thread(target=slow_instance, daemon=True)
    reader.start()
    capacity = relay.queue_capacity

    def capacity_as_a_peer_sends():  # the seal asks it first thing: a peer's frame lands in our queue then
        peer.sendto(b"late" + bytes(60), path)
        sent.append(b"late" + bytes(60))
        return capacity()

    monkeypatch.setattr(handover, "queue_capacity", capacity_as_a_peer_sends)  # (where the seal looks it up)
    handed, _, reasons = relay.detach(proxy)
    time.sleep(1.0)
    done.set()
    reader.join(5)
    assert reasons == [None] * len(handed)
    assert got == before + sent, f"{got.count(b'')} empty datagrams sent on (sealed: {proxy.sealed})"
    assert handed == sent


@pytest.mark.lab
def test_an_instance_found_dead_at_the_stop_is_buried_with_the_frames_the_stop_handed_over(make_lab):
    """At the stop, what waits for each instance is handed over first; one found dead after that is buried,
    and those frames come back with it, as not delivered (the burial once failed on them: the instance was
    counted as not given back, and the capture ended with an error)."""
    from pcapng_iou.core import netio
    from pcapng_iou.core.outcomes import Buried
    from pcapng_iou.sim import frames
    from pcapng_iou.shell.instances import Instances
    from pcapng_iou.shell.poller import Poller

    lab = make_lab("100:0/0 101:0/0\n")
    log = _Log()
    instances = Instances(lab.directory, None, Poller(), log.say)
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        instances.rescan()
        assert sorted(instances.proxies) == [100, 101], log.said
        frame = frames.ethernet("ff:ff:ff:ff:ff:ff", "aa:bb:cc:00:64:00", 0x88B5, bytes(46))
        datagram = netio.encode(netio.Header(101, 100, 0, 0), frame)  # 100's 0/0 to 101's 0/0
        peer.sendto(datagram, os.path.join(lab.directory, "101"))  # unread in our socket: the stop sends it on
        lab[101].kill()  # its socket and lock file stay behind, nobody answers at 101_real
        outcomes = instances.give_back_all()
    finally:
        peer.close()
        instances.forget_all()
    assert instances.not_given_back == 0, log.said
    assert not any("could not detach cleanly" in text for text in log.said), log.said
    buried = [outcome for outcome in outcomes if isinstance(outcome, Buried)]
    assert [outcome.instance for outcome in buried] == [101], outcomes
    settled = [(s.datagrams, s.reasons) for s in buried[0].settled]
    assert settled and settled[0][0] == [datagram], settled
    assert all(reason is not None for reason in settled[0][1]), settled
