"""The reload decision (kill -HUP), in memory: what was read -> which NETMAP is used from now on.

The same situations run through real captures and signals in test_reload.py
and test_zeroconf.py; here each is one row of a table, no process, no file.
"""
from __future__ import annotations

import pytest

from pcapng_iou.core.netmap import Netmap, NetmapError, parse
from pcapng_iou.core.reload import ReloadStep, decide_reload

FIXED = parse("100:0/0 101:0/0\n", "lab.netmap")
MERGED = parse("200:1/0 201:1/0\n", "found")
BROKEN = NetmapError("lab.netmap", 3, 1, "not an endpoint")
FOUND_BROKEN = NetmapError("/labs/a/NETMAP", 1, 5, "bad port")
ALSO_BROKEN = NetmapError("/labs/b/NETMAP", 2, 1, "bad port")

# (why, fixed_given, fixed, fixed_error, found_errors, merged, lines_in_use) -> (step, netmap, errors, merged)
CASES = [
    # -- a -n file (or ./NETMAP) in use --------------------------------------------------------
    ("-n read: used", True, FIXED, None, [], None, 2, ReloadStep.USE, FIXED, (), False),
    ("-n read while nothing was in use: used", True, FIXED, None, [], None, 0, ReloadStep.USE, FIXED, (), False),
    ("-n empty: used (links are learnt from the frames)", True, Netmap(), None, [], None, 2,
     ReloadStep.USE, "empty", (), False),
    ("-n broken: refused, the old map stays", True, None, BROKEN, [], None, 2, ReloadStep.REFUSE, None,
     (BROKEN,), False),
    ("-n broken says its own error, not the folders'", True, None, BROKEN, [FOUND_BROKEN], None, 2,
     ReloadStep.REFUSE, None, (BROKEN,), False),
    ("-n read but a file in use elsewhere broken: refused", True, FIXED, None, [FOUND_BROKEN], None, 2,
     ReloadStep.REFUSE, None, (FOUND_BROKEN,), False),
    # -- discovering: the NETMAP files of the instances' folders ----------------------------------------
    ("found files merged: used, its summary said", False, None, None, [], MERGED, 0, ReloadStep.USE, MERGED,
     (), True),
    ("found files merged replace the map in use", False, None, None, [], MERGED, 5, ReloadStep.USE, MERGED,
     (), True),
    ("a found file broken: refused", False, None, None, [FOUND_BROKEN], MERGED, 5, ReloadStep.REFUSE, None,
     (FOUND_BROKEN,), False),
    ("every broken file is named, the first first", False, None, None, [FOUND_BROKEN, ALSO_BROKEN], None, 5,
     ReloadStep.REFUSE, None, (FOUND_BROKEN, ALSO_BROKEN), False),
    ("every file found before is gone: an empty map", False, None, None, [], None, 5, ReloadStep.USE, "empty",
     (), False),
    ("nothing found, nothing in use: only the rescan", False, None, None, [], None, 0, ReloadStep.NONE_IN_USE,
     None, (), False),
]


@pytest.mark.parametrize("why, fixed_given, fixed, fixed_error, found_errors, merged, lines_in_use, "
                         "step, netmap, errors, said_merged", CASES, ids=[case[0] for case in CASES])
def test_reload_decision(why, fixed_given, fixed, fixed_error, found_errors, merged, lines_in_use,
                         step, netmap, errors, said_merged):
    plan = decide_reload(fixed_given, fixed, fixed_error, found_errors, merged, lines_in_use)
    assert plan.step is step, why
    if netmap == "empty":
        assert plan.netmap is not None and len(plan.netmap) == 0, why
    else:
        assert plan.netmap is netmap, why
    assert plan.errors == errors, why
    assert plan.merged is said_merged, why


def test_a_refusal_never_carries_a_map():
    """Whatever was read, a refused reload hands nothing to use (the capture keeps what it has)."""
    for case in CASES:
        plan = decide_reload(*case[1:7])
        assert (plan.step is ReloadStep.REFUSE) == bool(plan.errors)
        if plan.step is not ReloadStep.USE:
            assert plan.netmap is None
