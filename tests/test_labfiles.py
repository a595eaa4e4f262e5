"""Reading a lab's files (labfiles) and creating capture files (outputfiles): real files, FIFOs, devices."""
from __future__ import annotations

import os
import stat
import threading

import pytest

from pcapng_iou.shell import labfiles, outputfiles
from pcapng_iou.shell.labfiles import LabFileError, LabFileRefused, read_lab_file


def test_a_regular_file_within_the_limit_is_read_whole(tmp_path):
    path = tmp_path / "NETMAP"
    path.write_bytes(b"1:0/0 2:0/0\n")
    assert read_lab_file(str(path), 12) == b"1:0/0 2:0/0\n"


def test_a_fifo_is_refused_at_once_without_a_writer(tmp_path):
    path = str(tmp_path / "NETMAP")
    os.mkfifo(path)
    with pytest.raises(LabFileRefused) as info:
        read_lab_file(path, labfiles.NETMAP_LIMIT)  # (an open() without O_NONBLOCK waits here for ever)
    assert info.value.strerror == "a FIFO, not a regular file: not read"


def test_a_sparse_file_over_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "NETMAP"
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)
    with pytest.raises(LabFileRefused) as info:
        read_lab_file(str(path), labfiles.NETMAP_LIMIT)
    assert info.value.strerror == "64.0 MiB, more than the 1,048,576 bytes such a file may hold: not read"


def test_a_device_a_directory_and_a_link_when_links_are_not_followed(tmp_path):
    with pytest.raises(LabFileRefused, match="a character device, not a regular file: not read"):
        read_lab_file("/dev/zero", 64)
    with pytest.raises(LabFileRefused, match="a directory, not a regular file: not read"):
        read_lab_file(str(tmp_path), 64)
    target = tmp_path / "pid"
    target.write_text("1\n")
    (tmp_path / "1.lck").symlink_to(target)
    with pytest.raises(LabFileError) as info:
        read_lab_file(str(tmp_path / "1.lck"), 64, follow_links=False)
    assert info.value.strerror == "a symbolic link: not followed"
    assert read_lab_file(str(tmp_path / "1.lck"), 64) == b"1\n"


def test_relative_to_a_directory_descriptor(tmp_path):
    (tmp_path / "7.lck").write_text("4242\n")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_lab_file("7.lck", 64, dir_fd=fd) == b"4242\n"
    finally:
        os.close(fd)


# -- capture files ------------------------------------------------------------------------------

def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("group_read, mode", [(False, 0o600), (True, 0o640)])
def test_a_new_file_is_private_whatever_the_umask(tmp_path, group_read, mode):
    path = str(tmp_path / "cap.pcapng")
    before = os.umask(0)
    try:
        os.close(outputfiles.open_for_writing(path, group_read))
    finally:
        os.umask(before)
    assert _mode(path) == mode


def test_an_existing_file_is_written_over_and_loses_what_others_could_read(tmp_path):
    path = tmp_path / "cap.pcapng"
    path.write_bytes(b"old contents")
    path.chmod(0o664)
    fd = outputfiles.open_for_writing(str(path))
    os.write(fd, b"new")
    os.close(fd)
    assert path.read_bytes() == b"new" and _mode(path) == 0o600


def test_a_link_a_fifo_and_a_device_are_refused(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(outputfiles.OutputRefused, match="is a symlink; refusing to write through it"):
        outputfiles.open_for_writing(str(tmp_path / "link"))
    assert not (tmp_path / "elsewhere").exists()
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    with pytest.raises(outputfiles.OutputRefused, match="a FIFO, not a regular file: refused"):
        outputfiles.open_for_writing(fifo)
    with pytest.raises(outputfiles.OutputRefused, match="a character device, not a regular file: refused"):
        outputfiles.open_for_writing("/dev/null")


def test_any_kind_takes_a_fifo_once_its_reader_comes(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    fd = outputfiles.open_for_writing(fifo, any_kind=True)
    os.write(fd, b"pcapng")
    os.close(fd)
    reader.join(10)
    assert got == [b"pcapng"]


def test_an_exclusive_file_never_opens_a_name_taken(tmp_path):
    path = tmp_path / "ring_00001_20260101000000.pcapng"
    path.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        outputfiles.create_exclusively(str(path))
    assert path.read_bytes() == b"theirs"
