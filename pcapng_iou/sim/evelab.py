"""An EVE-NG-style simulated lab: each instance beside its wrapper, the wrappers joined over UDP.

As EVE-NG runs IOL: every instance runs in a folder of its own whose NETMAP
has 64 lines ``<id>:<p> <id+512>:<p>`` (p = 0..63), started with the bays
its links need, under iol_wrapper's command line
(:mod:`pcapng_iou.sim.iol_wrapper`: title ``R<id>``, a ``-l`` for each
serial link); its wrapper (:mod:`pcapng_iou.sim.wrapper`) binds
``<id+512>``, takes no lock file, and connects to ``<id>`` once, after a
delay.  A link drawn between two routers is two NETMAP lines and a UDP hop
between their wrappers.  Used by the tests and ``pcapng-iou demo --eve``.
"""
from __future__ import annotations

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
from typing import Dict, List, Optional, Tuple

from pcapng_iou.sim import iol_wrapper
from pcapng_iou.sim.instance import parse_interface
from pcapng_iou.sim.lab import LabError, LabProcess
from pcapng_iou.sim.wrapper import BRIDGE_OFFSET, CONNECT_DELAY_S

READY_TIMEOUT_S = 10.0
Port = Tuple[int, str]  # (instance, "B/U")


def free_udp_base(instances, tries: int = 50) -> int:
    """A UDP port base whose ports base + id (one for each wrapper) are free on the loopback now."""
    for _ in range(tries):
        base = random.randrange(20000, 60000 - max(instances))
        held = []
        try:
            for number in instances:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", base + number))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise LabError("no free UDP ports on the loopback for the wrappers")


def eve_netmap(instance: int) -> str:
    """The NETMAP EVE-NG's wrapper writes in an instance's folder."""
    return "".join(f"{instance}:{port} {instance + BRIDGE_OFFSET}:{port}\n" for port in range(64))


class WrapperProcess:
    """One simulated wrapper running as a child process."""

    def __init__(self, directory: str, instance: int, links: List[str], udp_base: int,
                 delay: float = CONNECT_DELAY_S, flood: Optional[str] = None):
        command = [sys.executable, "-m", "pcapng_iou.sim.wrapper", "--netio-dir", directory,
                   "--delay", f"{delay:g}", "--udp-base", str(udp_base), str(instance)]
        for link in links:
            command[-1:-1] = ["--link", link]
        if flood:
            command[-1:-1] = ["--flood", flood]
        self.instance = instance
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.process.pid
        self.counts: Optional[Dict[str, int]] = None
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready", READY_TIMEOUT_S)

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.lines.put(raw.decode().strip())
        self.lines.put("")

    def expect(self, word: str, timeout: float) -> str:
        """The next line that starts with ``word``."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise LabError(f"wrapper {self.instance + BRIDGE_OFFSET}: no {word!r} in {timeout:g} s") from None
            if not line:
                raise LabError(f"wrapper {self.instance + BRIDGE_OFFSET} ended: "
                               f"{self.process.stderr.read().decode(errors='replace').strip()}")
            if line.split()[0] == word:
                return line

    def stop(self, timeout: float = 15.0) -> Dict[str, int]:
        """Stop it (SIGTERM); the numbered frames it flooded, and the frames it lost (failed sends)."""
        if self.counts is not None:
            return self.counts
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            words = self.expect("flooded", timeout).split()
            counts = {"flooded": int(words[1]), "lost": int(words[3])}
        except LabError:
            counts = {}
        self.process.wait(timeout)
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()
        self.counts = counts
        return counts


class EveLab:
    """Instances with ``bays`` (id -> (-e, -s)), each with its wrapper; ``links`` join (id, "B/U") pairs."""

    def __init__(self, workdir: str, directory: str, bays: Dict[int, tuple], links: List[Tuple[Port, Port]],
                 udp_base: int, speak: bool = True, interval: float = 0.5, delay: float = CONNECT_DELAY_S):
        self.workdir, self.directory = workdir, directory
        self.bays, self.links, self.udp_base = bays, links, udp_base
        self.speak, self.interval, self.delay = speak, interval, delay
        self.instances: Dict[int, LabProcess] = {}
        self.wrappers: Dict[int, WrapperProcess] = {}
        os.makedirs(directory, mode=0o755, exist_ok=True)

    def folder_of(self, number: int) -> str:
        return os.path.join(self.workdir, f"node{number}")

    def links_of(self, number: int) -> List[Tuple[str, int, str]]:
        """Instance ``number``'s links, from its side: (its port "B/U", the peer, the peer's port)."""
        return [(port, peer, peer_port) for one, other in self.links
                for (here, port), (peer, peer_port) in ((one, other), (other, one)) if here == number]

    def wrapper_links(self, number: int) -> List[str]:
        return [f"{port}:{peer}:{peer_port}" for port, peer, peer_port in self.links_of(number)]

    def under_wrapper(self, number: int) -> list:
        """The words that start instance ``number`` under iol_wrapper's command line (title R<id>, a ``-l``
        for each serial link), as EVE-NG starts IOL; the bridging is the wrapper process's."""
        ethernet_bays = self.bays[number][0]
        serial = [iol_wrapper.serial_link(parse_interface(port), peer, parse_interface(peer_port))
                  for port, peer, peer_port in self.links_of(number) if parse_interface(port) & 0x0F >= ethernet_bays]
        return iol_wrapper.command_line(0, number, f"R{number}", [sys.executable, "-m", "pcapng_iou.sim.instance"],
                                        serial, [])

    def _speak_on(self, number: int) -> tuple:
        """The router speaks on its linked interfaces only, as one configured so (the 64-line NETMAP wires all)."""
        ports = [port for port, _, _ in self.links_of(number)]
        return ("--speak-on", ",".join(ports)) if self.speak and ports else ()

    def start(self, flood: Optional[Dict[int, str]] = None) -> "EveLab":
        """Start every instance, then its wrapper (which connects to it after the delay); ``flood`` names
        the instances whose wrapper floods numbered frames toward them, and from which port ("B/U")."""
        for number in sorted(self.bays):
            folder = self.folder_of(number)
            os.makedirs(folder, exist_ok=True)
            netmap = os.path.join(folder, "NETMAP")
            with open(netmap, "w") as handle:
                handle.write(eve_netmap(number))
            self.instances[number] = LabProcess(self.directory, number, netmap, self.speak, self.interval,
                                                quiet=True, bays=self.bays[number], extra=self._speak_on(number),
                                                runner=self.under_wrapper(number))
            self.start_wrapper(number, (flood or {}).get(number))
        return self

    def start_wrapper(self, number: int, flood: Optional[str] = None) -> WrapperProcess:
        wrapper = WrapperProcess(self.directory, number, self.wrapper_links(number), self.udp_base,
                                 self.delay, flood)
        self.wrappers[number] = wrapper
        return wrapper

    def wait_connected(self, timeout: float = 15.0) -> None:
        for wrapper in self.wrappers.values():
            wrapper.expect("connected", timeout)

    def stop(self) -> Dict[int, Dict[str, int]]:
        """Stop the wrappers, then the instances; what each wrapper flooded and lost, by instance."""
        try:
            counts = {number: wrapper.stop() for number, wrapper in self.wrappers.items()}
        finally:
            for process in self.instances.values():  # (even when a wrapper would not stop)
                if process.process.poll() is None:
                    process.stop()
            self.wrappers.clear()
            self.instances.clear()
        return counts
