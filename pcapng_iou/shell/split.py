"""``pcapng-iou split FILE``: one file per interface, for readers of one link type per file (tcpdump).

Reads the capture with python-pcapng's reader and writes each interface's
frames, with their timestamps, flags and comments, through our own block
encoders (:mod:`pcapng_iou.core.blocks`) into a file of its own, named by
:mod:`pcapng_iou.core.splitting`.  Interfaces without frames get no file.
Each file is created as the capture's own are (:mod:`pcapng_iou.shell.outputfiles`:
``0600``, the sudo user's): the traffic stays private.  A capture cut short
(copied while written, a full disk) is split up to its last whole frame.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import pcapng
from pcapng import blocks as pcapng_blocks
from pcapng.exceptions import TruncatedFile

from pcapng_iou import PROG, __version__
from pcapng_iou.core import blocks
from pcapng_iou.core.splitting import SplitNames, timestamp_ns
from pcapng_iou.shell.outputfiles import OutputRefused, open_for_writing

#: Files kept open at once: a lab of 1,000 instances has 16,000 links; the others are opened again to append.
MAX_OPEN = 64


class SplitError(Exception):
    """The capture cannot be read (or a file not written); ``str()`` names the file."""


@dataclass
class SplitFile:
    """One file written: the interface it holds and how many frames."""

    path: str
    interface_name: str
    linktype: int
    frames: int = 0


class _Interface:
    def __init__(self, idb, number: int):
        self.idb = idb
        self.number = number
        self.output: Optional[SplitFile] = None
        tsresol = idb.options.get("if_tsresol") if "if_tsresol" in idb.options else None
        self.tsresol = tsresol[0] if isinstance(tsresol, (bytes, bytearray)) else tsresol

    @property
    def name(self) -> str:
        return self.idb.options.get("if_name") if "if_name" in self.idb.options else ""


class Splitter:
    """Splits one capture file; :meth:`run` returns the files written, in the order of their interfaces."""

    def __init__(self, source: str, folder: Optional[str] = None):
        if folder is not None and not os.path.isdir(folder):
            why = "is not a folder" if os.path.exists(folder) else "does not exist"
            raise SplitError(f"output folder {folder} {why}")
        self.source = source
        self.names = SplitNames(source, folder)
        self.files: list = []
        #: Set when the file ends in the middle of a block: the frames read before the cut.
        self.cut_after: Optional[int] = None
        self._interfaces: dict = {}  # (section number, interface id) -> _Interface
        self._open: OrderedDict = OrderedDict()  # path -> file object, least recently used first
        self._section = -1
        self._comment = f"split by {PROG} {__version__} from {source}"

    def run(self) -> list:
        try:
            with open(self.source, "rb") as handle:
                for block in pcapng.FileScanner(handle):
                    self._take(block)
        except TruncatedFile:
            if self._section < 0:
                raise SplitError(f"{self.source}: not a PCAP-NG file this can read (cut short in its header)")
            self.cut_after = sum(written.frames for written in self.files)
        except SplitError:
            raise
        except OSError as err:
            raise SplitError(f"{err.filename or self.source}: {err.strerror}") from None
        except Exception as err:  # python-pcapng's errors: a file that is not PCAP-NG, or cut short
            raise SplitError(f"{self.source}: not a PCAP-NG file this can read ({err})") from None
        finally:
            for handle in self._open.values():
                handle.close()
        return self.files

    def _take(self, block) -> None:
        if isinstance(block, pcapng_blocks.SectionHeader):
            self._section += 1
        elif isinstance(block, pcapng_blocks.InterfaceDescription):
            number = sum(1 for section, _ in self._interfaces if section == self._section)
            self._interfaces[(self._section, number)] = _Interface(block, number)
        elif isinstance(block, pcapng_blocks.EnhancedPacket):
            interface = self._interfaces[(self._section, block.interface_id)]
            self._write(interface, self._packet(block, interface))

    @staticmethod
    def _packet(block, interface: _Interface) -> bytes:
        options = block.options
        flags = int(options.get("epb_flags")) if "epb_flags" in options else 0
        comments = options.get_all("opt_comment") if "opt_comment" in options else ()
        units = (block.timestamp_high << 32) | block.timestamp_low
        data = bytes(block.packet_data)
        return blocks.enhanced_packet(0, timestamp_ns(units, interface.tsresol), data, flags, comments,
                                      block.packet_len if block.packet_len != len(data) else 0)

    def _write(self, interface: _Interface, data: bytes) -> None:
        if interface.output is None:
            idb = interface.idb
            path = self.names.name(interface.name, interface.number, idb.link_type)
            interface.output = SplitFile(path, interface.name, idb.link_type)
            self.files.append(interface.output)
            description = idb.options.get("if_description") if "if_description" in idb.options else ""
            self._handle(path, "wb").write(
                blocks.Section(f"{PROG} {__version__}", self._comment).header_bytes()
                + blocks.interface_description(idb.link_type, interface.name, description, idb.snaplen))
        self._handle(interface.output.path, "ab").write(data)
        interface.output.frames += 1

    def _handle(self, path: str, mode: str):
        handle = self._open.get(path)
        if handle is not None and mode == "ab":
            self._open.move_to_end(path)
            return handle
        if len(self._open) >= MAX_OPEN:
            self._open.popitem(last=False)[1].close()
        try:
            if mode == "wb":
                fd = open_for_writing(path)
            else:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OutputRefused as err:
            raise SplitError(str(err)) from None
        except OSError as err:
            raise SplitError(f"cannot write {path}: {err.strerror}") from None
        handle = self._open[path] = os.fdopen(fd, mode)
        return handle
