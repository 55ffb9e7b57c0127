#!/usr/bin/env python3
"""The benchmarks page renderer (bench/report.py) on a results file written
here: the page opens with the summary, groups the targets by area, gives each
target not met a reason, and gnuplot draws both charts as SVG that parse and
name every tool. Run by CTest (tests/scripts/CMakeLists.txt) with the
source tree as its argument."""
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(sys.argv[1]) / "bench"))
import report  # noqa: E402


def stats(v, low=None, high=None):
    return {"median": v, "min": v if low is None else low, "max": v if high is None else high}


def run(scenario, tool, wall, mib=1024):
    return {"scenario": scenario, "tool": tool, "wall_s": stats(wall), "cpu_s": stats(wall),
            "max_rss_mib": stats(20), "mib_per_s": stats(mib / wall)}


def ratio(name, value, target, met, low=None, high=None, **extra):
    return {"name": name, "value": stats(value, low, high), "target": target, "met": met,
            **extra}


TOOLS = {"local_disk": 1.5, "wal_archive": 1.6, "cp -r": 1.8, "restic": 7.0, "borg": 5.0}
RESULTS = {
    "generated": "2026-12-07T00:00:00+00:00", "command": "bench/run.sh", "wall_s": 600,
    "quick": False, "note": "", "sizes_mib": [1024], "suites_missing": [], "skipped": [],
    "machine": {"cpu": "test cpu", "cores": 2, "ram_gib": 24, "disk": "disk", "os": "Debian",
                "kernel": "6.1", "build": "Release", "commit": "abc1234",
                "load_average_at_start": [0, 0, 0], "load_average_at_end": [0, 0, 0],
                "tools": {}},
    "suites": [{
        "suite": "backup", "size_mib": 1024, "reps": 3, "cold_cache": True,
        "runs": [run(sc, t, w * k) for t, w in TOOLS.items()
                 for sc, k in [("full", 1), ("verify", 0.5), ("restore", 0.9)]]
        + [run("incr_1pct", t, 0.08) for t in ("local_disk", "wal_archive")]
        + [run("incr_1pct", t, 1.1) for t in ("restic", "borg")],
        "ratios": [
            ratio("local_disk full backup throughput / restic's", 4.7, ">= 4", True),
            # Missed, and the codec floor says why.
            ratio("local_disk full backup throughput / cp -r's", 0.3, ">= 0.7", False,
                  ceiling=stats(0.5)),
            # Missed, and the file system's floor says why.
            ratio("full backup throughput, many small segments (8 KiB) / the same bytes in "
                  "large ones", 0.2, ">= 0.8", False, ceiling=stats(0.3),
                  ceiling_what="a cold read of the same files (tar)"),
            # Missed, but the range reaches the goal.
            ratio("wal_archive restore throughput / restic's", 1.9, ">= 2", False, 1.5, 2.1),
            # Missed, a known reason.
            ratio("local_disk backup after +1 %: time / its full backup's", 0.09, "<= 0.05",
                  False),
            # Missed, nobody said why.
            ratio("local_disk peak RSS / restic's", 1.5, "< 1", False),
        ],
        "figures": {
            "data_mib": {"full": 1024, "incr_1pct": 1034, "incr_10pct": 1130},
            "stored_mib": {t: stats(341) for t in TOOLS},
            "compression_ratio": {t: stats(3.0) for t in TOOLS},
            "commands": {},
            "load": {"rate_limit_mib_s": 50,
                     "idle": {"events_per_s": 20000, "mb_per_s": 22, "p50_ms": 3, "p99_ms": 7,
                              "vs_idle": 1.0, "window_s": 2, "host_peak_rss_mib": 14},
                     "hot_backup": {"events_per_s": 6000, "mb_per_s": 7, "p50_ms": 4,
                                    "p99_ms": 130, "vs_idle": 0.3, "window_s": 2,
                                    "backup_s": 2.0, "overlap": 1.0, "host_peak_rss_mib": 22},
                     "hot_backup_rate_limited": {
                         "events_per_s": 16000, "mb_per_s": 18, "p50_ms": 3, "p99_ms": 12,
                         "vs_idle": 0.8, "window_s": 20, "backup_s": 22.0, "overlap": 1.0,
                         "host_peak_rss_mib": 22}}}}],
}


def check(condition, what):
    if not condition:
        sys.exit(f"FAIL: {what}")


with tempfile.TemporaryDirectory() as tmp:
    md, *charts = report.write(RESULTS, tmp)
    page = md.read_text()
    sections = [line for line in page.splitlines() if line.startswith("## ")]
    check(sections[:3] == ["## Summary", "## Charts", "## Targets"],
          f"the page opens with summary, charts, targets: {sections[:3]}")
    check("| Full backup | 1.50 | 1.60 | 1.80 | 7.00 | 5.00 |" in page,
          "the summary gives each tool's full backup seconds")
    check("* uncapped: appends at 0.30x idle, p99 130.0 ms, the backup taking 2.0 s" in page,
          "the summary says what an uncapped backup does to appends")
    check("rate_limit 50 MiB/s: appends at 0.80x idle" in page, "capped mode named")
    for area in ("### Full backup", "### Restore", "### Incremental backup", "### Memory"):
        check(area in page, f"targets grouped: {area}")
    check("**not met**: the codec's floor alone allows 0.50" in page, "codec floor reason")
    check("**not met**: a cold read of the same files (tar) alone reaches 0.30 here, below the "
          "goal: this disk's cost per file bounds any backup (ours gets 67% of that floor)"
          in page,
          "file-system floor reason")
    check("**not met**: the range reaches the target" in page, "noise reason")
    check("**not met**: an incremental has a fixed cost" in page, "known reason")
    check("**not met**: not yet explained" in page, "unexplained shortfall said so")
    check("backup_vs_aws" not in page, "no raw keys")
    for chart in charts:
        check(chart.exists(), f"{chart.name} written")
        text = " ".join(t.text or "" for t in ET.parse(chart).iter()
                        if t.tag.endswith("text") or t.tag.endswith("tspan"))
        check(text.strip(), f"{chart.name} has text")
    bars = " ".join(t.text or "" for t in ET.parse(charts[0]).iter())
    for tool in TOOLS:
        check(tool in bars, f"benchmarks.svg names {tool}")
    check("local_disk: 4.7x restic, 3.3x borg" in bars, "full backup panel compares with peers")
    check("uncapped" in " ".join(t.text or "" for t in ET.parse(charts[1]).iter()),
          "append-impact.svg labels the modes")
print("ok")
