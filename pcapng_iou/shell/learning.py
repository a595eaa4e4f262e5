"""Zero configuration: what the running instances tell (bays, NETMAP files) put to use by a capture.

At the start, before any interface block is written, every running instance
is asked (:mod:`pcapng_iou.shell.discovery`); an instance that starts later is
asked when it is attached; ``kill -HUP`` asks them all again and re-reads every
NETMAP file in use.  What the answers change is decided by the core (bay kinds
and precedence in the link table, merging in :mod:`pcapng_iou.core.netmaps`);
this module reads, tells the recorder, and says what it found.  Nothing here
runs per datagram.

What the lab points at (lock files, the NETMAPs in the instances' folders) is
read with the rights of the netio directory's owner when we are root and it
is not ours (:func:`pcapng_iou.shell.privileges.acting_as`), and a lock
file's pid counts only when that process is the owner's: a lab's owner can
make the capture read nothing they could not read themselves.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, Optional

from pcapng_iou.core import cdp, drawn, eve
from pcapng_iou.core import netmap as netmap_mod
from pcapng_iou.core.netmaps import NetmapSet
from pcapng_iou.core.recorder import Recorder
from pcapng_iou.core.words import counted
from pcapng_iou.shell import discovery, netiodir, netmapfile, projects
from pcapng_iou.shell.privileges import Identity, acting_as, lab_owner


class Learning:
    """Asks the instances of one netio directory, for one capture."""

    def __init__(self, netio_dir: str, netmap_path: Optional[str], say: Callable[[str, str], None],
                 look_here: Optional[str] = None):
        self.netio_dir = netio_dir
        self.sources = discovery.NetmapSources(netmap_path, look_here)
        self.say = say
        self.facts: dict[int, discovery.InstanceFacts] = {}
        self.merged = NetmapSet()
        self._said: set[str] = set()
        self._proc_said = False
        #: The links the user drew, from the GNS3 project the instances run in (None: none found).
        self.drawing = None
        #: Instance -> the node name EVE-NG's wrapper gives it (``-t``).
        self.titles: dict = {}
        self._given: Optional[dict] = None
        #: EVE-NG's serial links (``-l``), as pairs of router endpoints.
        self.serial_links: set = set()
        self.wrapped: set = set()
        #: The directory's owner when last seen (uid, and whom to act as: None when it is us or root).
        self._owner_uid: Optional[int] = None
        self._act_as: Optional[Identity] = None

    def _as_owner(self):
        """The block reads the lab's files as the directory's owner (see the module's docstring)."""
        try:
            info = os.lstat(self.netio_dir)
            self._owner_uid, self._act_as = info.st_uid, lab_owner(info)
        except OSError:
            pass  # gone: the owner last seen still decides
        return acting_as(self._act_as)

    # -- asking -------------------------------------------------------------------
    def _say_once(self, text: str, level: str = "warning") -> None:
        if text not in self._said:
            self._said.add(text)
            self.say(text, level)

    #: Said once for the whole capture (a NETMAP's warnings are not said again on every reload).
    say_once = _say_once

    def _ask(self, number: int) -> discovery.InstanceFacts:
        with self._as_owner():
            facts = discovery.probe(self.netio_dir, number, want_cwd=self.sources.discovering,
                                    owner_uid=self._owner_uid)
        for problem in facts.problems:
            self._say_once(problem)
        if facts.proc_refused and not self._proc_said:
            self._proc_said = True
            self.say(f"{facts.proc_refused}; what such instances do not tell is left to NETMAP and --linktype, "
                     f"as without discovery", "warning")
        self.facts[number] = facts
        wrapper = projects.eve_wrapper(facts.pid, number) if facts.pid else None
        if wrapper is not None:  # EVE-NG: the node's name and serial links, from its wrapper's command line
            self.wrapped.add(number)
            title = eve.wrapper_title(wrapper, number)
            if title is not None:
                self.titles[number] = title
            self.serial_links.update(frozenset(pair) for pair in eve.serial_links(wrapper, number))
        return facts

    def _ask_again_if_restarted(self, number: int) -> discovery.InstanceFacts:
        known = self.facts.get(number)
        if known is not None and known.pid is not None and known.started is not None:
            try:
                # The same pid is not enough: a restarted instance may be given its old pid again.
                with self._as_owner():
                    pid = discovery.read_lock_pid(netiodir.Paths(self.netio_dir, number).lock)
                if pid == known.pid and discovery.process_start(known.pid) == known.started:
                    return known
            except OSError:
                pass
        return self._ask(number)

    def running(self, numbers: Iterable[int]) -> list[int]:
        """Those of ``numbers`` whose instance holds its lock (stale files tell nothing)."""
        return [n for n in numbers if netiodir.lock_state(netiodir.Paths(self.netio_dir, n).lock)]

    # -- start ---------------------------------------------------------------------
    def at_capture_start(self, netmap_path: Optional[str],
                         lines_given: int) -> tuple[Optional[netmap_mod.Netmap], dict]:
        """What every running instance tells before the interface blocks are written (see :meth:`at_start`);
        says what the ``-n`` file (``netmap_path``, of ``lines_given`` lines) is, or that it is not there yet."""
        if netmap_path is not None and not os.path.exists(netmap_path):
            self.say(f"NETMAP {netmap_path} does not exist (yet): kill -HUP {os.getpid()} reads it once it is there",
                     "warning")
        try:
            names = os.listdir(self.netio_dir)
        except OSError:
            names = []
        # Every running instance, not only those -i asks for: the links of those run to the others, whose
        # bays decide their link types too, and whose folders hold the same lab's NETMAP.
        netmap, bays = self.at_start(sorted(n for n in map(netiodir.instance_id, names) if n is not None))
        if netmap is None and netmap_path is not None and lines_given:
            shown = netmap_path if os.sep in netmap_path else os.curdir + os.sep + netmap_path  # not "NETMAP NETMAP"
            self.say(f"NETMAP {shown}: {counted(lines_given, 'line')}", "info")
        return netmap, bays

    def at_start(self, numbers: Iterable[int]) -> tuple[Optional[netmap_mod.Netmap], dict]:
        """Ask the instances running now; (the merged NETMAP of their folders or None, their bays)."""
        bays = {}
        for number in self.running(numbers):
            facts = self._ask(number)
            bays[number] = facts.bays
            if self.sources.discovering:
                self.sources.add_found(facts)
        if not self.sources.discovering:
            return None, bays
        self._find_drawing()
        self.merged = self._read_found(list(self.sources.found))
        self.say(self.sources.summary(self.merged), "info")
        return (self.merged.netmap() if self.merged.files else None), bays

    def names(self, given: Optional[dict] = None):
        """What names the links, or None: ``given`` (``--name``) first, then the GNS3 project's drawing,
        then EVE-NG's node names."""
        if given is not None:
            self._given = given  # (kept for the instances attached later)
        given = self._given
        if self.drawing is None and not self.titles and not given and not self.serial_links:
            return None
        drawing = self.drawing or drawn.Drawing()
        for instance, title in self.titles.items():
            drawing.routers.setdefault(instance, title)
        bays = {number: facts.bays for number, facts in self.facts.items()}
        for pair in sorted(tuple(sorted(p)) for p in self.serial_links):
            if drawing.half(drawn.half_key(*pair[0])) is None:
                ends = tuple(cdp.end_for(end, {}, bays, drawing.routers) for end in pair)
                drawing.add(drawn.DrawnLink(ends, "EVE-NG serial link"))
        if given:
            drawing.rename(given)
        return drawing

    def _find_drawing(self) -> bool:
        """Look for the GNS3 project of the instances asked so far; True when one is found now."""
        if self.drawing is not None:
            return False
        with self._as_owner():  # (the project is in the lab owner's folders: read with their rights)
            drawing, warnings = projects.find_drawing(f.cwd for f in self.facts.values())
        for warning in warnings:
            self._say_once(warning)
        if drawing is None:
            return False
        self.drawing = drawing
        self.say(f"GNS3 project: {counted(len(drawing.links), 'drawn link')} "
                 f"({', '.join(sorted(drawing.routers.values())[:8])}); links named from it", "info")
        return True

    def _read_found(self, names: list) -> NetmapSet:
        with self._as_owner():
            merged, warnings, _ = self.sources.read_found(names)
        for warning in warnings:
            self._say_once(warning)
        return merged

    # -- an instance attached ------------------------------------------------------
    def attached(self, number: int, recorder: Recorder, when: str) -> bytes:
        """Learn from instance ``number``, just attached; the blocks to write."""
        facts = self._ask_again_if_restarted(number)
        data = recorder.learn_bays(number, facts.bays, when)
        if (self.sources.discovering and self._find_drawing()) or number in self.wrapped:
            recorder.links.learn_drawing(self.names())
        if self.sources.discovering:
            shown = self.sources.add_found(facts)
            if shown is not None:
                data += self._bring_in(number, shown, recorder, when)
        return data

    def _bring_in(self, number: int, shown: str, recorder: Recorder, when: str) -> bytes:
        try:
            with self._as_owner():
                netmap = netmapfile.read(self.sources.found[shown], shown)
        except netmap_mod.NetmapError as err:
            self._say_once(f"{err} (NETMAP of instance {number}): ignored")
            return b""
        segments, warnings = self.merged.add(netmap)
        for warning in warnings:
            self._say_once(warning)
        self.say(f"instance {number} brought its NETMAP {shown}: {counted(len(segments), 'new line')}", "info")
        return recorder.extend(segments, f"from the NETMAP of instance {number} at {when}")

    # -- kill -HUP -----------------------------------------------------------------
    def look_here_appeared(self) -> Optional[str]:
        """``./NETMAP`` when discovering and it exists now (written after the start)."""
        here = self.sources.look_here
        if self.sources.discovering and here is not None and os.path.isfile(here):
            return self.sources.look_here
        return None

    def use_fixed(self, path: str) -> None:
        self.sources.fixed_path = path

    def reload(self, numbers: Iterable[int], recorder: Recorder,
               when: str) -> tuple[bytes, Optional[NetmapSet], list]:
        """Ask the attached instances ``numbers`` again; when discovering, re-read every NETMAP found.

        (blocks to write, the new merge or None when no file is in use, errors).  The bays the
        instances tell are applied first, whatever the files say: they come from the running
        instances, not from a NETMAP.  A file in use that no longer parses (or cannot be read)
        refuses the NETMAP part of the reload, as a broken ``-n`` file does: the errors name it,
        the merge is None and the old merge stays (for the instances that attach later).  A
        found file not in use (broken since the start, or new) is left out with a warning, as
        at the start."""
        data = b""
        for number in self.running(numbers):
            facts = self._ask(number)
            data += recorder.learn_bays(number, facts.bays, when)
            if self.sources.discovering:
                self.sources.add_found(facts)
        if not self.sources.discovering:
            return data, None, []
        with self._as_owner():
            present = [name for name in self.sources.found if os.path.exists(self.sources.found[name])]
            merged, warnings, errors = self.sources.read_found(present, in_use=self.merged.files)
        if errors:
            return data, None, errors
        for name in set(self.sources.found) - set(present):
            self.say(f"{name} is gone: its lines are dropped", "warning")
            del self.sources.found[name]
        for warning in warnings:
            self._say_once(warning)
        self.merged = merged
        return data, (self.merged if self.merged.files else None), []

    def nowhere(self) -> str:
        return self.sources.nowhere()
