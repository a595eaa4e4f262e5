"""The ``lab`` marker keeps its promise: ``-m "not lab"`` starts no process, because a test that
starts one without the marker fails (the audit hook in conftest.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INI = """[pytest]
markers =
    lab: starts processes
    terminal: tmux
    remote: sshd
    bench: harnesses
addopts = --strict-markers -p no:cacheprovider
"""
INNER_TESTS = '''
import subprocess

import pytest


def test_unmarked_starts_a_process():
    subprocess.run(["true"], check=True)


@pytest.mark.lab
def test_marked_starts_a_process():
    subprocess.run(["true"], check=True)


def test_in_memory():
    assert sum([1, 2]) == 3


@pytest.fixture
def started():
    return subprocess.run(["true"], check=True)


def test_unmarked_whose_fixture_starts_a_process(started):
    assert started.returncode == 0
'''


@pytest.mark.lab
def test_a_test_that_starts_a_process_without_the_lab_marker_fails(workdir):
    shutil.copy(os.path.join(HERE, "conftest.py"), workdir)
    with open(os.path.join(workdir, "pytest.ini"), "w") as handle:
        handle.write(INI)
    with open(os.path.join(workdir, "test_inner.py"), "w") as handle:
        handle.write(INNER_TESTS)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rE", "test_inner.py"], cwd=workdir,
                         capture_output=True, text=True, timeout=120)
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "4 passed, 2 errors" in out, out
    assert "test_inner.py::test_unmarked_starts_a_process starts processes (subprocess.Popen) but is not " \
           "marked lab" in out, out
    assert "test_inner.py::test_unmarked_whose_fixture_starts_a_process starts processes" in out, out
    selected = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not lab", "test_inner.py"],
                              cwd=workdir, capture_output=True, text=True, timeout=120)
    assert "1 deselected" in selected.stdout, selected.stdout
