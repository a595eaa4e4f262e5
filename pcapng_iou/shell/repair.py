"""Put a netio directory back in order after a capture that could not clean up.

If pcapng-iou is killed (SIGKILL, power loss) while it stands in for
instances, ``<id>`` is our dead socket and the instance listens at
``<id>_real``: its peers get "connection refused".  Repair decides, for each
``<id>_real``, by asking the sockets themselves whether anyone is behind them:

* the instance answers at ``<id>_real``, nothing at ``<id>``: rename ``<id>_real`` over ``<id>``;
* the instance answers at ``<id>`` (it restarted): ``<id>_real`` is litter, removed;
* nothing answers anywhere: the instance died too; its ``<id>``, ``<id>_real``
  and free ``<id>.lck`` are removed, as it would have done itself;

and removes our half-made ``<id>.pcapng-iou-new`` sockets.  Running it again
changes nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Union

from pcapng_iou.shell.labdir import LabDirectory
from pcapng_iou.shell.netiodir import (
    REAL_SUFFIX,
    TEMP_SUFFIX,
    Paths,
    is_socket,
    remove_dead_instance,
    split_name,
)


@dataclass
class Action:
    instance: int
    text: str


def _held_open(directory: Union[str, LabDirectory]) -> tuple:
    """The directory held open, and whether we opened it here (to close it after)."""
    if isinstance(directory, LabDirectory):
        return directory, False
    return LabDirectory.open(os.path.realpath(directory)), True  # (a -d given as a link: the folder it names)


def leftovers(directory: Union[str, LabDirectory]) -> list[int]:
    """Instances with a ``_real`` or temporary socket of ours in ``directory``."""
    lab, opened = _held_open(directory)
    try:
        found = set()
        for name in lab.names():
            number, suffix = split_name(name)
            if suffix in (REAL_SUFFIX, TEMP_SUFFIX) and lab.is_socket(name):
                found.add(number)
        return sorted(found)
    finally:
        if opened:
            lab.close()


def _remove(lab: LabDirectory, name: str, dry_run: bool) -> None:
    if not dry_run:
        try:
            lab.unlink(name)
        except FileNotFoundError:
            pass


def repair(directory: Union[str, LabDirectory], dry_run: bool = False) -> list[Action]:
    """Repair ``directory``; return what was (or, with ``dry_run``, would be) done, in those words.

    Everything is done through the directory held open, as its owner (see :mod:`pcapng_iou.shell.labdir`).
    """
    lab, opened = _held_open(directory)
    try:
        actions = []
        for number in leftovers(lab):
            actions += _repair_instance(Paths(lab.path, number, lab), dry_run)
        return actions
    finally:
        if opened:
            lab.close()


def _repair_instance(paths: Paths, dry_run: bool) -> list[Action]:
    # The verbs each action is told with, done or (dry run) planned.
    removed, left, renamed = (("would remove", "would leave", "would rename") if dry_run
                              else ("removed", "left", "renamed"))
    lab, number = paths.lab, paths.instance
    actions = []

    def say(text: str) -> None:
        actions.append(Action(number, text))

    if lab.is_socket(paths.temp_name):
        _remove(lab, paths.temp_name, dry_run)
        say(f"{removed} {paths.temp} (half-made socket of pcapng-iou)")
    if not lab.is_socket(paths.real_name):
        return actions
    real_answers = lab.socket_answers(paths.real_name)
    front = lab.lstat(paths.socket_name)
    front_answers = is_socket(front) and lab.socket_answers(paths.socket_name)
    if real_answers and front_answers:
        say(f"{left} {paths.real} alone: a capture still stands in at {paths.socket}")
    elif real_answers:
        if front is not None and not is_socket(front):
            say(f"{left} {paths.real} alone: {paths.socket} is not a socket")
            return actions
        if not dry_run:
            lab.rename(paths.real_name, paths.socket_name)
        say(f"instance {number} runs: {renamed} {paths.real} back to {paths.socket}")
    elif front_answers:
        _remove(lab, paths.real_name, dry_run)
        say(f"instance {number} was restarted: {removed} the old {paths.real}")
    else:
        gone = remove_dead_instance(paths, dry_run=dry_run)
        say(f"instance {number} is not running: {removed} {', '.join(gone)}")
    return actions
