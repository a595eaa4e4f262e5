"""The netio directory held open (shell/labdir.py): real directories, real sockets, real ids (root in CI)."""
from __future__ import annotations

import os
import shutil
import socket
import stat

import pytest
from conftest import short_tempdir

import hostile
from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.privileges import Identity


@pytest.fixture
def folder():
    path = short_tempdir("labdir")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_socket_bound_by_its_address_follows_the_directory_wherever_it_was_moved(folder):
    netio = os.path.join(folder, "netio")
    os.mkdir(netio)
    lab = LabDirectory.open(netio)
    try:
        os.rename(netio, netio + ".old")
        assert lab.where_now() == netio + ".old"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            lab.bind(sock, "100", 0o750)
            assert stat.S_IMODE(os.lstat(os.path.join(netio + ".old", "100")).st_mode) == 0o750
        lab.rename("100", "101")
        assert os.listdir(netio + ".old") == ["101"]
    finally:
        lab.close()


def test_a_directory_given_as_a_link_is_not_opened(folder):
    os.mkdir(os.path.join(folder, "real"))
    os.symlink(os.path.join(folder, "real"), os.path.join(folder, "link"))
    with pytest.raises(OSError):
        LabDirectory.open(os.path.join(folder, "link"))


def test_removed_is_told_from_moved(folder):
    netio = os.path.join(folder, "netio")
    os.mkdir(netio)
    lab = LabDirectory.open(netio)
    try:
        os.rmdir(netio)
        assert lab.where_now() is None
    finally:
        lab.close()


def test_in_another_users_directory_a_planted_link_meets_that_users_rights(folder):
    """``connect`` follows a link: planted in place of an instance's socket towards root's own socket, it must
    not reach it (as root, the capture would forward the owner's datagrams into it)."""
    hostile.need_root_and_setpriv()
    netio = os.path.join(folder, "netio")
    os.mkdir(netio, 0o700)
    os.chown(netio, hostile.ATTACKER_UID, hostile.ATTACKER_GID)
    private = os.path.join(folder, "root-only")
    os.mkdir(private, 0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as roots:
        roots.bind(os.path.join(private, "socket"))
        os.chmod(os.path.join(private, "socket"), 0o600)
        os.symlink(os.path.join(private, "socket"), os.path.join(netio, "100"))
        lab = LabDirectory.open(netio)
        try:
            assert lab.owner == Identity(hostile.ATTACKER_UID, hostile.ATTACKER_GID)
            assert not lab.socket_answers("100")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                with pytest.raises(PermissionError):
                    lab.connect(sock, "100")
                lab.bind(sock, "200", 0o755)
            made = os.lstat(os.path.join(netio, "200"))
            assert (made.st_uid, made.st_gid) == (hostile.ATTACKER_UID, hostile.ATTACKER_GID)
            lab.rename("100", "100_real")  # the link itself is renamed, never followed
            assert os.path.islink(os.path.join(netio, "100_real"))
            assert os.path.exists(os.path.join(private, "socket"))
        finally:
            lab.close()
