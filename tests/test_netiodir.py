"""Where the netio directory is by default."""
import os

from pcapng_iou.shell import netiodir


def test_the_default_directory_is_the_sudo_users_when_sudo_names_one(monkeypatch):
    monkeypatch.setenv("SUDO_UID", "1000")
    assert netiodir.default_dir() == "/tmp/netio1000"


def test_a_sudo_uid_that_is_not_a_number_is_not_taken(monkeypatch):
    """``SUDO_UID=abc`` looked for /tmp/netioabc (found by a newcomer); it is not a uid: ours is taken."""
    for value in ("abc", "", "1e3", "١٢"):
        monkeypatch.setenv("SUDO_UID", value)
        assert netiodir.default_dir() == f"/tmp/netio{os.getuid()}", value
    monkeypatch.delenv("SUDO_UID")
    assert netiodir.default_dir() == f"/tmp/netio{os.getuid()}"
