"""Turning bench rounds into figures: percentiles, medians, the summary, the targets
and the printed table."""
from __future__ import annotations

import math
import os
import platform
import statistics
from typing import Optional

from pcapng_iou import __version__
from pcapng_iou.bench import PROG
from pcapng_iou.core.spin import DEFAULT_SPIN_US

#: The targets the issue set for a 2-core machine (100-byte frames, capture on, no dashboard).
TARGET_RATIO = 0.50
TARGET_ADDED_P50_US = 60.0
TARGET_ADDED_P99_US = 120.0
TARGET_CPU_US_PER_FRAME = 5.0
#: Rounds whose figures spread wider than this (max - min over the median) are too noisy to trust.
NOISY_SPREAD = 0.25
TARGET_RSS_GROWTH_MB = 5.0
TARGET_ATTACH_S = 2.0
TARGET_IDLE_CPU_PERCENT = 1.0


# -- statistics --------------------------------------------------------------------
def percentile(values: list, p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None



def _round_to(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def summarise(settings, rounds: list, memory: Optional[dict], herd: Optional[dict],
              checks, elapsed: float) -> dict:
    """Everything a bench run measured, as the JSON document it prints: medians, ranges, targets."""
    runs = [_round_figures(r) for r in rounds]
    result: dict = {
        "version": __version__,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": f"{platform.system()} {platform.release()}", "machine": platform.machine()},
        "settings": _settings(settings),
        "elapsed_s": round(elapsed, 1),
    }
    if runs and "direct_fps" in runs[0]:
        result["throughput"], result["cost"] = _throughput_and_cost(settings, runs)
    if runs and "direct_p50_us" in runs[0]:
        result["latency"] = _latency(settings, runs)
    if runs:
        result["runs"] = [{k: _round_to(v, 3) for k, v in run.items()} for run in runs]
        result["ranges"], result["noisy"] = spreads(runs)
    if memory is not None:
        result["memory"] = {
            "frames_small": memory["frames_small"], "frames_large": memory["frames_large"],
            "peak_rss_small_mb": round(memory["peak_rss_small_kb"] / 1024, 2),
            "peak_rss_large_mb": round(memory["peak_rss_large_kb"] / 1024, 2),
            "growth_mb": round(memory["growth_mb"], 2),
            "cpu_s_per_100k_frames": round(memory["cpu_s_per_100k"], 3),
        }
    if herd is not None:
        result["attach"] = {k: _round_to(v, 3) if isinstance(v, float) else v
                            for k, v in herd.items() if not k.startswith("idle")}
        if "idle_cpu_percent" in herd:
            result["idle"] = {"cpu_percent": round(herd["idle_cpu_percent"], 2),
                              "seconds": round(herd["idle_seconds"], 1), "instances": herd["instances"]}
    if getattr(settings, "versus", "") and runs:
        from pcapng_iou.bench import versus

        result["versus"] = versus.summary(runs, settings.versus, median)
    result["checks"] = checks.as_dict()
    result["targets"] = targets(result)
    result["ok"] = result["checks"]["passed"]
    return result


def _round_figures(measured: dict) -> dict:
    """One round's figures: throughput and cost as measured, round trips as percentiles."""
    run = {k: measured[k] for k in ("direct_fps", "captured_fps", "ratio", "cpu_s_per_100k", "peak_rss_kb",
                                    "direct_crowd_fps", "captured_crowd_fps", "crowd_ratio") if k in measured}
    for side in ("direct", "captured"):
        if f"{side}_rtt_us" in measured:
            run[f"{side}_p50_us"] = percentile(measured[f"{side}_rtt_us"], 50)
            run[f"{side}_p99_us"] = percentile(measured[f"{side}_rtt_us"], 99)
    if "captured_p50_us" in run:
        run["added_p50_us"] = run["captured_p50_us"] - run["direct_p50_us"]
        run["added_p99_us"] = run["captured_p99_us"] - run["direct_p99_us"]
    if any(key.startswith("versus_") for key in measured):
        from pcapng_iou.bench import versus

        versus.round_figures(measured, run)
    return run


def _settings(settings) -> dict:
    return {"frame_size": settings.size, "count": settings.count, "pairs": settings.pairs,
            "crowd": settings.crowd, "pings": settings.pings, "warmup_pings": settings.warmup,
            "repeat": settings.repeat, "memory_frames": [settings.memory_small, settings.memory_large],
            "instances": settings.instances, "links": settings.links, "idle_seconds": settings.idle,
            "skip": list(settings.skip), "spin_us": settings.spin_us, "versus": getattr(settings, "versus", "")}


def _median_of(runs: list, key: str, digits: int):
    return _round_to(median([r.get(key) for r in runs]), digits)


def _throughput_and_cost(settings, runs: list) -> tuple[dict, dict]:
    throughput = {
        "frames_per_round": settings.count * settings.pairs,
        "direct_fps": _median_of(runs, "direct_fps", 0), "captured_fps": _median_of(runs, "captured_fps", 0),
        "ratio": _median_of(runs, "ratio", 3),
    }
    if "crowd_ratio" in runs[0]:
        throughput["crowd"] = {
            "pairs": settings.crowd, "frames_per_round": max(1, settings.count // settings.crowd) * settings.crowd,
            "direct_fps": _median_of(runs, "direct_crowd_fps", 0),
            "captured_fps": _median_of(runs, "captured_crowd_fps", 0),
            "ratio": _median_of(runs, "crowd_ratio", 3),
        }
    cost = {
        "cpu_s_per_100k_frames": _median_of(runs, "cpu_s_per_100k", 3),
        "cpu_us_per_frame": _round_to(median([r.get("cpu_s_per_100k") for r in runs]) * 10, 2),
        "peak_rss_mb": _round_to(max(r["peak_rss_kb"] for r in runs) / 1024, 1),
    }
    return throughput, cost


def _latency(settings, runs: list) -> dict:
    latency = {"pings_per_round": settings.pings}
    for key in ("direct_p50_us", "direct_p99_us", "captured_p50_us", "captured_p99_us", "added_p50_us",
                "added_p99_us"):
        latency[key] = _median_of(runs, key, 1)
    return latency


#: The figures whose spread over the rounds says whether a run can be trusted, and how to name them.
SPREAD_FIGURES = (("ratio", "throughput ratio"), ("crowd_ratio", "throughput ratio, pairs at once"),
                  ("added_p50_us", "added round trip p50"), ("added_p99_us", "added round trip p99"),
                  ("cpu_s_per_100k", "capture CPU per frame"))


def spreads(runs: list) -> tuple:
    """The lowest and highest of each figure over the rounds, and a sentence for each that spread too wide."""
    ranges: dict = {}
    noisy: list = []
    for key, name in SPREAD_FIGURES:
        values = [r[key] for r in runs if r.get(key) is not None]
        if not values:
            continue
        low, high, middle = min(values), max(values), statistics.median(values)
        ranges[key] = [round(low, 3), round(high, 3)]
        if len(values) > 1 and middle and (high - low) / abs(middle) > NOISY_SPREAD:
            noisy.append(f"{name} spread {(high - low) / abs(middle):.0%} over {len(values)} rounds "
                         f"({low:.3g} to {high:.3g})")
    return ranges, noisy


def targets(result: dict) -> list:
    out = []

    def target(name, value, limit, ok):
        if value is not None:
            out.append({"name": name, "value": value, "limit": limit, "met": bool(ok)})

    throughput, latency = result.get("throughput"), result.get("latency")
    if throughput:
        target("throughput ratio (through us / direct)", throughput["ratio"], f">= {TARGET_RATIO}",
               throughput["ratio"] >= TARGET_RATIO)
    cost = result.get("cost")
    if cost and cost.get("cpu_us_per_frame") is not None:
        target("capture CPU per frame (us)", cost["cpu_us_per_frame"], f"<= {TARGET_CPU_US_PER_FRAME:g}",
               cost["cpu_us_per_frame"] <= TARGET_CPU_US_PER_FRAME)
    if latency:
        target("added round trip p50 (us)", latency["added_p50_us"], f"<= {TARGET_ADDED_P50_US:g}",
               latency["added_p50_us"] <= TARGET_ADDED_P50_US)
        target("added round trip p99 (us)", latency["added_p99_us"], f"<= {TARGET_ADDED_P99_US:g}",
               latency["added_p99_us"] <= TARGET_ADDED_P99_US)
    if "memory" in result:
        target("peak RSS growth (MB)", result["memory"]["growth_mb"], f"<= {TARGET_RSS_GROWTH_MB:g}",
               result["memory"]["growth_mb"] <= TARGET_RSS_GROWTH_MB)
    if "attach" in result and result["attach"].get("attach_s") is not None:
        target("attach time (s)", result["attach"]["attach_s"], f"< {TARGET_ATTACH_S:g}",
               result["attach"]["attach_s"] < TARGET_ATTACH_S)
    if "idle" in result:
        target("idle CPU (%)", result["idle"]["cpu_percent"], f"< {TARGET_IDLE_CPU_PERCENT:g}",
               result["idle"]["cpu_percent"] < TARGET_IDLE_CPU_PERCENT)
    return out


# -- output ----------------------------------------------------------------------------
def _n(value, digits=0) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:,.{digits}f}".replace(",", " ")


def _range(result: dict, key: str, digits: int) -> str:
    """`` (low-high)`` of a figure over the rounds, when there were several."""
    low_high = result.get("ranges", {}).get(key)
    if not low_high or result["settings"]["repeat"] < 2:
        return ""
    return f" ({_n(low_high[0], digits)}-{_n(low_high[1], digits)})"


def _verdicts(result: dict):
    """A function: the verdict on the target of that name (limit and met or MISSED), or ''."""
    met = {t["name"]: t for t in result["targets"]}

    def verdict(name: str) -> str:
        t = met.get(name)
        return f"{t['limit']}: {'met' if t['met'] else 'MISSED'}" if t else ""
    return verdict


def _flow_rows(result: dict, verdict) -> list:
    """The rows of throughput and round trips."""
    s, rows = result["settings"], []
    throughput, latency = result.get("throughput"), result.get("latency")
    if throughput:
        rows.append((f"throughput, frames/s ({s['pairs']} pair{'s' if s['pairs'] > 1 else ''}, "
                     f"{_n(throughput['frames_per_round'])} frames)",
                     _n(throughput["direct_fps"]), _n(throughput["captured_fps"]), ""))
        rows.append(("  ratio through us / direct", "", _n(throughput["ratio"], 2) + _range(result, "ratio", 2),
                     verdict("throughput ratio (through us / direct)")))
        crowd = throughput.get("crowd")
        if crowd:
            rows.append((f"throughput, frames/s ({crowd['pairs']} pairs at once, {_n(crowd['frames_per_round'])} frames)",
                         _n(crowd["direct_fps"]), _n(crowd["captured_fps"]), ""))
            rows.append(("  ratio through us / direct", "", _n(crowd["ratio"], 2) + _range(result, "crowd_ratio", 2),
                         ""))
    if latency:
        rows.append((f"round trip p50, us ({_n(latency['pings_per_round'])} pings)",
                     _n(latency["direct_p50_us"], 1), _n(latency["captured_p50_us"], 1), ""))
        rows.append(("round trip p99, us", _n(latency["direct_p99_us"], 1), _n(latency["captured_p99_us"], 1), ""))
        rows.append(("  added p50, us", "", _n(latency["added_p50_us"], 1) + _range(result, "added_p50_us", 1),
                     verdict("added round trip p50 (us)")))
        rows.append(("  added p99, us", "", _n(latency["added_p99_us"], 1) + _range(result, "added_p99_us", 1),
                     verdict("added round trip p99 (us)")))
    return rows


def _cost_rows(result: dict, verdict) -> list:
    """The rows of CPU, memory, attach time and idle CPU."""
    rows, cost, memory = [], result.get("cost"), result.get("memory")
    if cost:
        rows.append(("capture CPU per 100 000 frames, s", "", _n(cost["cpu_s_per_100k_frames"], 3)
                     + _range(result, "cpu_s_per_100k", 3),
                     f"({_n(cost['cpu_us_per_frame'], 2)} us a frame) " + verdict("capture CPU per frame (us)")))
        rows.append(("capture peak RSS, MB", "", _n(cost["peak_rss_mb"], 1), ""))
    if memory:
        rows.append((f"peak RSS after {_n(memory['frames_small'])} frames, MB", "",
                     _n(memory["peak_rss_small_mb"], 1), ""))
        rows.append((f"peak RSS after {_n(memory['frames_large'])} frames, MB", "",
                     _n(memory["peak_rss_large_mb"], 1), ""))
        rows.append(("  growth, MB", "", _n(memory["growth_mb"], 2), verdict("peak RSS growth (MB)")))
    attach = result.get("attach")
    if attach and attach.get("attach_s") is not None:
        rows.append((f"attach {attach['instances']} instances x {attach['links_per_instance']} links, s", "",
                     _n(attach["attach_s"], 2), verdict("attach time (s)")))
    idle = result.get("idle")
    if idle:
        rows.append((f"idle CPU, {idle['instances']} instances attached, %", "", _n(idle["cpu_percent"], 2),
                     verdict("idle CPU (%)")))
    return rows


def _check_lines(result: dict) -> list:
    """What the checks found, the notes and the warnings, below the table."""
    s, c = result["settings"], result["checks"]
    lines = ["", f"checks: {_n(c['datagrams_verified'])} of {_n(c['datagrams_sent'])} datagrams arrived intact "
                 f"(checked byte for byte), {c['lost']} lost, {c['corrupt']} corrupt; "
                 f"{c['capture_files_checked']} capture file{'s' if c['capture_files_checked'] != 1 else ''} read back ({_n(c['frames_checked_in_files'])} frames): "
                 f"{'passed' if c['passed'] else 'FAILED'}"]
    if s["frame_size"] != 100 or s["pairs"] != 1:
        lines.append("note: the targets were set for 1 pair of 100-byte frames")
    for text in result.get("noisy", []):
        lines.append(f"warning: too noisy to trust: {text}; run again on a quieter machine (or more rounds, -r)")
    for failure in c["failures"]:
        lines.append(f"  failed: {failure}")
    return lines


def format_table(result: dict) -> str:
    s = result["settings"]
    m = result["machine"]
    verdict = _verdicts(result)
    rounds = f"median of {s['repeat']} rounds" if s["repeat"] > 1 else "1 round"
    spin = f", capture --spin {s['spin_us']}" if s.get("spin_us", DEFAULT_SPIN_US) != DEFAULT_SPIN_US else ""
    lines = [f"{PROG} ({result['version']}): {s['frame_size']}-byte frames, {m['cpus']} CPUs, "
             f"Python {m['python']}, {rounds}{spin}", ""]
    rows = [("", "direct", "through us", "target")] + _flow_rows(result, verdict) + _cost_rows(result, verdict)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip())
    if result.get("versus"):
        from pcapng_iou.bench import versus

        lines += [""] + versus.table_lines(result["versus"])
    return "\n".join(lines + _check_lines(result))
