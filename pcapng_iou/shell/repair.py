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

from pcapng_iou.shell.netiodir import (
    REAL_SUFFIX,
    TEMP_SUFFIX,
    Paths,
    is_socket,
    lstat,
    remove_dead_instance,
    socket_answers,
    split_name,
)


@dataclass
class Action:
    instance: int
    text: str


def leftovers(directory: str) -> list[int]:
    """Instances with a ``_real`` or temporary socket of ours in ``directory``."""
    found = set()
    for name in os.listdir(directory):
        number, suffix = split_name(name)
        if suffix in (REAL_SUFFIX, TEMP_SUFFIX) and is_socket(lstat(os.path.join(directory, name))):
            found.add(number)
    return sorted(found)


def _remove(path: str, dry_run: bool) -> None:
    if not dry_run:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def repair(directory: str, dry_run: bool = False) -> list[Action]:
    """Repair ``directory``; return what was (or, with ``dry_run``, would be) done, in those words."""
    # The verbs each action is told with, done or (dry run) planned.
    removed, left, renamed = (("would remove", "would leave", "would rename") if dry_run
                              else ("removed", "left", "renamed"))
    actions = []
    for number in leftovers(directory):
        paths = Paths(directory, number)

        def say(text: str) -> None:
            actions.append(Action(number, text))

        if is_socket(lstat(paths.temp)):
            _remove(paths.temp, dry_run)
            say(f"{removed} {paths.temp} (half-made socket of pcapng-iou)")
        if not is_socket(lstat(paths.real)):
            continue
        real_answers = socket_answers(paths.real)
        front = lstat(paths.socket)
        front_answers = is_socket(front) and socket_answers(paths.socket)
        if real_answers and front_answers:
            say(f"{left} {paths.real} alone: a capture still stands in at {paths.socket}")
        elif real_answers:
            if front is not None and not is_socket(front):
                say(f"{left} {paths.real} alone: {paths.socket} is not a socket")
                continue
            if not dry_run:
                os.rename(paths.real, paths.socket)
            say(f"instance {number} runs: {renamed} {paths.real} back to {paths.socket}")
        elif front_answers:
            _remove(paths.real, dry_run)
            say(f"instance {number} was restarted: {removed} the old {paths.real}")
        else:
            gone = remove_dead_instance(paths, dry_run=dry_run)
            say(f"instance {number} is not running: {removed} {', '.join(gone)}")
    return actions
