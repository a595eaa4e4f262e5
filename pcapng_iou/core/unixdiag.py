"""The kernel's answer to "which unix sockets exist, and who is connected to whom" (NETLINK_SOCK_DIAG).

Pure codec, no sockets: :func:`dump_request` builds the netlink request
(every unix socket, in every state, with its bound name, the filesystem
inode of that name and its peer), :func:`parse_replies` reads the kernel's
answer.  :func:`senders_to` picks, from that answer, the sockets connected
to a given socket: peers that send to an instance through a connection
(EVE-NG's ``iol_wrapper``) rather than by its name.

Layouts (``linux/netlink.h``, ``linux/sock_diag.h``, ``linux/unix_diag.h``)::

    nlmsghdr        u32 len, u16 type, u16 flags, u32 seq, u32 pid
    unix_diag_req   u8 family, u8 protocol, u16 pad, u32 states, u32 ino, u32 show, u32 cookie[2]
    unix_diag_msg   u8 family, u8 type, u8 state, u8 pad, u32 ino, u32 cookie[2]
    rtattr          u16 len, u16 type, payload, padded to 4 bytes
"""
from __future__ import annotations

import socket
import struct
from typing import Iterable, List, NamedTuple, Optional

NLMSG_HEADER = struct.Struct("=IHHII")
DIAG_REQUEST = struct.Struct("=BBHIIIII")
DIAG_MESSAGE = struct.Struct("=BBBBIII")
ATTRIBUTE = struct.Struct("=HH")
VFS = struct.Struct("=II")
PEER = struct.Struct("=I")

SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
ALL_STATES = 0xFFFFFFFF
UDIAG_SHOW_NAME = 0x1
UDIAG_SHOW_VFS = 0x2
UDIAG_SHOW_PEER = 0x4
UDIAG_SHOW_UID = 0x40
UNIX_DIAG_NAME = 0
UNIX_DIAG_VFS = 1
UNIX_DIAG_PEER = 2
UNIX_DIAG_UID = 7


class DiagError(Exception):
    """The kernel answered with an error (its errno is :attr:`errno`), or with bytes that do not parse."""

    def __init__(self, text: str, errno: int = 0):
        super().__init__(text)
        self.errno = errno


class UnixSocket(NamedTuple):
    """One unix socket as the kernel describes it."""

    #: The socket's own inode (what ``/proc/<pid>/fd/N`` shows as ``socket:[inode]``).
    inode: int
    #: SOCK_DGRAM, SOCK_STREAM, ...
    sock_type: int
    #: The name it is bound to (a path, or an abstract name starting with a NUL byte), or None.
    name: Optional[bytes] = None
    #: The filesystem inode and device (kernel encoding) of that name, for a socket bound to a path.
    vfs: Optional[tuple] = None
    #: The inode of the socket it is connected to, or None.
    peer: Optional[int] = None
    #: The uid of whoever made it (Linux 5.3+), or None.
    uid: Optional[int] = None


def dump_request(sequence: int = 1) -> bytes:
    """The request for every unix socket: name, filesystem inode, peer and owner's uid of each."""
    body = DIAG_REQUEST.pack(socket.AF_UNIX, 0, 0, ALL_STATES, 0,
                             UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_UID, 0xFFFFFFFF, 0xFFFFFFFF)
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                             NLM_F_REQUEST | NLM_F_DUMP, sequence, 0) + body


def parse_replies(data: bytes) -> tuple:
    """The sockets described in one buffer the kernel sent, and whether it was the last one (NLMSG_DONE)."""
    sockets: List[UnixSocket] = []
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, kind, _flags, _seq, _pid = NLMSG_HEADER.unpack_from(data, offset)
        if length < NLMSG_HEADER.size or offset + length > len(data):
            raise DiagError(f"sock_diag: a message of {length} bytes does not fit in the {len(data) - offset} left")
        body = data[offset + NLMSG_HEADER.size:offset + length]
        if kind == NLMSG_DONE:
            return sockets, True
        if kind == NLMSG_ERROR:
            code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            raise DiagError(f"sock_diag: the kernel answered error {code}", code)
        if kind == SOCK_DIAG_BY_FAMILY:
            sockets.append(parse_message(body))
        offset += _aligned(length)
    return sockets, False


def parse_message(body: bytes) -> UnixSocket:
    """One ``unix_diag_msg`` and its attributes."""
    if len(body) < DIAG_MESSAGE.size:
        raise DiagError(f"sock_diag: a socket described in {len(body)} bytes, fewer than {DIAG_MESSAGE.size}")
    _family, sock_type, _state, _pad, inode, _c0, _c1 = DIAG_MESSAGE.unpack_from(body)
    name = vfs = peer = uid = None
    for kind, payload in _attributes(body, DIAG_MESSAGE.size):
        if kind == UNIX_DIAG_NAME:
            name = payload
        elif kind == UNIX_DIAG_VFS and len(payload) >= VFS.size:
            vfs = VFS.unpack_from(payload)
        elif kind == UNIX_DIAG_PEER and len(payload) >= PEER.size:
            peer = PEER.unpack_from(payload)[0] or None
        elif kind == UNIX_DIAG_UID and len(payload) >= PEER.size:
            uid = PEER.unpack_from(payload)[0]
    return UnixSocket(inode, sock_type, name, vfs, peer, uid)


def _attributes(body: bytes, offset: int) -> Iterable[tuple]:
    while offset + ATTRIBUTE.size <= len(body):
        length, kind = ATTRIBUTE.unpack_from(body, offset)
        if length < ATTRIBUTE.size or offset + length > len(body):
            raise DiagError(f"sock_diag: an attribute of {length} bytes does not fit")
        yield kind, body[offset + ATTRIBUTE.size:offset + length]
        offset += _aligned(length)


def _aligned(length: int) -> int:
    return (length + 3) & ~3


def kernel_device(major: int, minor: int) -> int:
    """A device number as the kernel keeps it (and sock_diag reports it): 12 bits major, 20 bits minor."""
    return (major << 20) | minor


def bound_at(sockets: Iterable[UnixSocket], file_inode: int, device: int) -> Optional[int]:
    """The inode of the socket bound to the file ``file_inode`` on ``device`` (kernel encoding), if any."""
    for sock in sockets:
        if sock.vfs == (file_inode, device):
            return sock.inode
    return None


def senders_to(sockets: Iterable[UnixSocket], target: int, ignore: Iterable[int] = ()) -> List[int]:
    """The inodes of the datagram sockets connected to the socket ``target`` (those in ``ignore`` left out)."""
    left_out = set(ignore)
    return sorted(sock.inode for sock in sockets
                  if sock.peer == target and sock.sock_type == socket.SOCK_DGRAM and sock.inode not in left_out)
