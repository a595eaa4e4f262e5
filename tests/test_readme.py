"""The README's first two commands, as a new user meets them.

The first (the demo) is run for real, in a fresh copy of the project, with the
distribution's own ``python3`` first on a bare ``PATH`` and an empty ``HOME``:
on Debian and Ubuntu that Python refuses ``pip install`` outside a virtual
environment (PEP 668), so the command must make one.  The second (the tests)
is the very command CI runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import need

import pcapng_iou

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pcapng_iou.__file__)))
README = os.path.join(ROOT, "README.rst")
CI_SCRIPT = os.path.join(ROOT, ".ci", "run")
DISTRIBUTION_PYTHON = "/usr/bin/python3"


def literal_blocks(text: str) -> list:
    """The text of each ``::`` literal block of a reStructuredText document, in order."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].rstrip().endswith("::"):
            index += 1
            body = []
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
                body.append(lines[index])
                index += 1
            blocks.append("\n".join(line.strip() for line in body).strip())
        else:
            index += 1
    return blocks


def readme_commands() -> tuple:
    with open(README, encoding="utf-8") as handle:
        blocks = literal_blocks(handle.read())
    return blocks[0], blocks[1]


def test_the_first_two_commands_are_one_line_each_and_use_a_virtual_environment():
    demo, tests = readme_commands()
    for command in (demo, tests):
        assert "\n" not in command, command
        assert "python3 -m venv .venv" in command, command
        # pip of the distribution's Python refuses to install (PEP 668): only the environment's pip is used.
        assert not re.search(r"(^|[;&|]\s*)(python3 -m pip|pip3?) ", command), command
    assert demo.endswith(".venv/bin/pcapng-iou demo")
    assert tests.endswith(".venv/bin/python -m pytest")
    for package in ("python3-venv", "tshark", "tmux", "openssh-client", "openssh-server"):
        assert package in tests.split("&&")[0], package


def test_ci_runs_exactly_the_readme_test_command():
    _, tests = readme_commands()
    with open(CI_SCRIPT, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith("# The README's test command"))
    assert lines[marker + 1] == tests


@pytest.mark.lab
def test_readme_runs_pydoc_through_python():
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    assert "pydoc pcapng_iou" in text
    assert not re.search(r"(?<!-m )pydoc pcapng_iou", text)


def _fresh_copy(target: str) -> None:
    """The project's files as a clone would have them (tracked files, no build or environment)."""
    listed = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        for name in listed.stdout.decode().split("\0"):
            if name and os.path.isfile(os.path.join(ROOT, name)):
                os.makedirs(os.path.join(target, os.path.dirname(name)), exist_ok=True)
                shutil.copy2(os.path.join(ROOT, name), os.path.join(target, name))
    else:
        shutil.copytree(ROOT, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "*.pcapng", ".git"))


@pytest.mark.lab
def test_first_command_with_the_distribution_python_in_a_fresh_copy(workdir):
    if not os.access(DISTRIBUTION_PYTHON, os.X_OK) or shutil.which("capinfos") is None:
        need(f"needs the distribution's {DISTRIBUTION_PYTHON} and capinfos")
    demo, _ = readme_commands()
    clone = os.path.join(workdir, "clone")
    home = os.path.join(workdir, "home")
    os.makedirs(clone)
    os.makedirs(home)
    _fresh_copy(clone)
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYENV_VERSION")}
    env.update(PATH="/usr/bin:/bin", HOME=home)
    result = subprocess.run(["sh", "-c", demo], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert os.path.realpath(os.path.join(clone, ".venv", "bin", "python")).startswith("/usr/")
    info = subprocess.run([shutil.which("capinfos"), os.path.join(clone, "demo.pcapng")],
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    packets = re.search(r"Number of packets:\s+(\d+)", info.stdout)
    assert packets and int(packets.group(1)) > 0, info.stdout


def test_readme_explains_directions_reloads_and_the_gap_before_a_reload():
    with open(README, encoding="utf-8") as handle:
        text = " ".join(handle.read().split())
    assert "sent by the first member of the NETMAP line" in text
    assert "shared segment of three or more routers" in text and "not sent by router 1" in text
    assert "same name" in text and "descriptions* differ" in text
    assert "Frames sent before the reload stay on the old interface" in text
    assert "``auto``" in text and "follow its frames" in text and "bay kinds" in text


def test_every_bench_target_and_its_missed_verdict_are_in_the_readme():
    """The bench prints "MISSED" beside a target it did not meet: the README names every target and says so."""
    from pcapng_iou.bench import report

    with open(README, encoding="utf-8") as handle:
        text = " ".join(handle.read().split())
    assert "MISSED" in text
    for value, unit in ((report.TARGET_RATIO, ""), (report.TARGET_ADDED_P50_US, " us"),
                        (report.TARGET_ADDED_P99_US, " us"), (report.TARGET_RSS_GROWTH_MB, " MB"),
                        (report.TARGET_ATTACH_S, " s"), (report.TARGET_IDLE_CPU_PERCENT, " %")):
        assert f"{value:g}{unit}" in text, (value, unit)
