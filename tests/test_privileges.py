"""Acting as a lab's owner: real files, real sockets, real ids (the tests run as root in CI)."""
from __future__ import annotations

import os
import pathlib
import shutil
import socket
import stat
import tempfile
import threading

import pytest

from pcapng_iou.shell import privileges
from pcapng_iou.shell.privileges import Identity, acting_as, creating_with_mode

OWNER = Identity(4242, 4242)

needs_root = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"), reason="needs root")


@pytest.fixture
def owned_folder():
    """A folder of the owner's, in a folder the owner may pass through (pytest's own are root's, 0700)."""
    parent = pathlib.Path(tempfile.mkdtemp(prefix="iou-priv", dir="/tmp"))
    parent.chmod(0o755)
    folder = parent / "lab"
    folder.mkdir()
    os.chown(folder, OWNER.uid, OWNER.gid)
    yield folder
    shutil.rmtree(parent, ignore_errors=True)


@needs_root
def test_a_root_only_file_is_out_of_reach_while_acting_as_the_owner(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root:$6$salt$hash:19000::::::\n")
    os.chmod(secret, 0o600)
    with acting_as(OWNER):
        with pytest.raises(PermissionError):
            open(secret).close()
    assert secret.read_text().startswith("root:")  # our own rights are back after the block


@needs_root
def test_a_link_planted_in_the_lab_meets_the_owners_rights(tmp_path, owned_folder):
    secret = tmp_path / "shadow"
    secret.write_text("secret line\n")
    os.chmod(secret, 0o640)
    (owned_folder / "NETMAP").symlink_to(secret)
    with acting_as(OWNER):
        with pytest.raises(PermissionError):
            open(owned_folder / "NETMAP").close()


@needs_root
def test_what_is_made_while_acting_as_the_owner_is_the_owners_with_the_mode_asked(owned_folder):
    path = str(owned_folder / "100")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        with acting_as(OWNER), creating_with_mode(0o750):
            sock.bind(path)
        st = os.lstat(path)
    assert (st.st_uid, st.st_gid) == OWNER
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750


@needs_root
def test_the_identity_is_the_threads_own(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    seen = []
    inside, leave = threading.Event(), threading.Event()

    def other_thread():
        inside.wait()
        seen.append(secret.read_text())  # this thread still reads with root's rights
        leave.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with acting_as(OWNER):
        inside.set()
        leave.wait(10)
    thread.join()
    assert seen == ["x"]


def test_nobody_to_act_as_when_not_root_or_in_roots_own_folder():
    st = os.lstat("/")
    assert privileges.lab_owner(st) is None  # root's folder
    assert privileges.invoking_user({"SUDO_UID": "abc", "SUDO_GID": "1"}) is None
    assert privileges.invoking_user({}) is None


@needs_root
def test_the_invoking_user_comes_from_sudo():
    assert privileges.invoking_user({"SUDO_UID": "1000", "SUDO_GID": "1001"}) == Identity(1000, 1001)
    assert privileges.invoking_user({"SUDO_UID": "0", "SUDO_GID": "0"}) is None
