#!/usr/bin/env python3
"""Renders a merged results file (bench/harness.py) as BENCHMARKS.md and its
charts (bench/report_charts.py) in one directory. Every figure comes from the
results file; nothing here is a number of its own.

The page opens with what an operator asks first (what a backup, an
incremental and a restore cost here beside the usual tools, and what a backup
does to appends), then the charts, then the targets grouped by area, each
"not met" with its reason; the full tables follow.

Re-render without re-running:  bench/report.py RESULTS.json OUT_DIR
"""
import json
import sys
from pathlib import Path

import report_charts
from benchlib import cell
SCENARIO_ORDER = ["full", "incr_1pct", "incr_10pct", "verify", "restore"]

METHOD = """\
Each size runs the suites in `bench/` on one dataset made by `bkp_dataset`: a
host's data directory written through the real storage engine (control DB,
16 MiB log segments, 64 MiB event segments of 200-2000 byte JSON events with
realistic field variety; seeded, so every run has the same bytes).

* **full**: each tool backs up the data directory. Our providers
  (`local_disk`, `wal_archive`) are driven as operators drive them:
  `hostctl backup create` against a running `hostd`.
* **incr_1pct, incr_10pct**: `bkp_dataset --mutate` appends 1 %, then 10 %
  more new events (segments roll), then each tool that keeps history backs up
  again into the same repository. `local_disk` has no incremental type: its
  later backups are full backups that store only the chunks it lacks;
  `wal_archive` takes `--type incremental`.
* **verify**: each tool re-reads and checks everything its repository holds.
* **restore**: each tool restores its first (full) backup into an empty
  directory, whose size the harness checks against the source. Ours is
  `hostd restore` with the host stopped, which includes its consistency check.
* **load**: `hostctl load` appends as fast as the host takes them (batches of
  100, fsync per batch) while idle, during a `local_disk` hot backup, and
  during one capped by its `rate_limit`; each load window is a little shorter
  than the backup it overlaps ("overlap" says how much the backup covered).
* **ABI cost**: `host_bench --benchmark_filter=BM_AbiCost`, a backup through
  the `null` provider beside plain reads of the same files (page cache warm).
* **Codec floor**: `host_bench --benchmark_filter=BM_CodecFloor`, the
  engine's codec over the whole dataset in memory on one thread per core,
  with no I/O: a lower bound on any full backup's time in this format.
  `cp -r`'s time over it bounds the full-backup/`cp -r` throughput ratio.

Method: the page cache is dropped (`/proc/sys/vm/drop_caches`) before every
timed run where permitted; tools run one after another within a repetition,
in an order rotated each repetition; every figure is the median over the
repetitions with (min-max); every ratio is taken between runs of the same
repetition, then its median reported. Wall time is measured around the
command; CPU time is the OS's (wait4: user + system, children included);
peak RSS is the largest process's high-water mark (GNU time's %M). Backups,
incrementals and verify run inside `hostd`, so their CPU time is the host's
(from /proc) plus hostctl's, and their peak RSS the host's VmHWM over the
run (reset before it). MiB/s is the data directory's size at that point over
the wall time, for every scenario (for an incremental, an effective rate).
"""


def table(header, rows):
    def row(cells):  # a tool named "tar | lz4 -1" must not split its cell
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows), ""]


def scenario_key(name):
    return (SCENARIO_ORDER.index(name) if name in SCENARIO_ORDER else len(SCENARIO_ORDER), name)


def sizes(results):
    return [(mib, [s for s in results["suites"] if s.get("size_mib") == mib])
            for mib in results["sizes_mib"]]


def machine_section(results):
    m = results["machine"]
    rows = [("CPU", f"{m['cpu']}, {m['cores']} cores"), ("RAM", f"{m['ram_gib']} GiB"),
            ("Disk (scratch)", m["disk"]), ("OS, kernel", f"{m['os']}, Linux {m['kernel']}"),
            ("Build", m["build"]), ("Source", m["commit"]),
            ("Load average (1, 5, 15 min)",
             f"{' / '.join(f'{x:.2f}' for x in m['load_average_at_start'])} at start, "
             f"{' / '.join(f'{x:.2f}' for x in m['load_average_at_end'])} at end")]
    rows += [(f"`{k}`", v) for k, v in m["tools"].items()]
    return ["## Machine", ""] + table(["", ""], rows)


# Areas of the targets table, in reading order: the first whose words occur
# in a target's name takes it.
AREAS = [("Host impact and continuous archiving", ("append", "recovery point")),
         ("Memory", ("RSS",)),
         ("Remote storage (S3)", ("remote ",)),
         ("Incremental backup", ("after +1 %", "incremental")),
         ("Restore", ("restore",)),
         ("Full backup", ("full backup",)),
         ("Engine and ABI overhead", ("null provider", "codec", "manifest"))]

# Why a target is missed, where the figures alone do not say it: a word of
# the target's name, and one line. A reason the figures give (a range that
# reaches the target, a codec floor that forbids it) is worked out instead.
KNOWN_SHORTFALLS = [
    ("backup after +1 %: time / its full backup's",
     "an incremental has a fixed cost (a round trip through the host, a check of every "
     "unchanged segment, a manifest listing every file) that 1 % of a small dataset does "
     "not cover"),
    ("remote restore throughput",
     "a restore from S3 costs ours more than the same restore from a local disk, and more "
     "than the server spends serving it (server_cpu_s_restore in the remote figures): the "
     "client's S3 read path, not yet broken down"),
    ("(pacing auto)",
     "the idle CPU and I/O classes give appends back only a little of what an uncapped "
     "backup takes (see pacing off in the append-impact table); an adaptive pacer fed by "
     "the appends' latency, which would slow the backup's disk traffic too, is not built"),
    ("peak RSS of the host during a backup",
     "at 24 000 files a backup still holds the host's list of every file (~400 bytes each), "
     "the base manifest's text whole and a map of every file of the resolved chain"),
    ("zstd1 stored size / restic's",
     "level 1 stores a fraction of a percent more than restic; level 3 stores less but "
     "backs up at under 2x restic's speed here"),
    ("null provider backup throughput",
     "the ABI's read call copies each block into the provider's buffer: at page-cache "
     "speed that copy costs as much as the read"),
]


def area_of(name):
    return next((area for area, words in AREAS if any(w in name for w in words)), "Other")


def shortfall(r):
    """One line saying why a target was not met."""
    op, bound = r["target"].split()
    bound = float(bound)
    ceiling = r.get("ceiling")
    if ceiling and not (ceiling["median"] >= bound if ">" in op else ceiling["median"] <= bound):
        if "ceiling_what" in r:
            share = r["value"]["median"] / ceiling["median"]
            return (f"{r['ceiling_what']} alone reaches {ceiling['median']:.2f} here, below the "
                    f"goal: this disk's cost per file bounds any backup (ours gets "
                    f"{share:.0%} of that floor)")
        return (f"the codec's floor alone allows {ceiling['median']:.2f} at this size: a "
                f"compressed, checksummed copy cannot keep up with a plain one here")
    low, high = r["value"]["min"], r["value"]["max"]
    if (">" in op and high >= bound) or ("<" in op and low <= bound):
        return "the range reaches the target: within this machine's run-to-run noise"
    return next((why for words, why in KNOWN_SHORTFALLS if words in r["name"]),
                "not yet explained")


def targets_section(results):
    groups = {}
    sized = sizes(results) + [(None, [s for s in results["suites"] if s.get("size_mib") is None])]
    for mib, suites in sized:
        for s in suites:
            for r in s.get("ratios", []):
                if r["value"] is None:
                    measured, verdict = "-", f"not measured: {r.get('note', '')}"
                else:
                    measured = cell(r["value"], "{:.2f}")
                    verdict = "met" if r["met"] else f"**not met**: {shortfall(r)}"
                groups.setdefault(area_of(r["name"]), []).append(
                    [r["name"], f"{mib} MiB" if mib else "-", measured, r["target"], verdict])
    out = ["## Targets", "",
           "Each target judged on its median (min-max over the repetitions). A throughput "
           "ratio above 1 means ours is faster; a time or memory ratio above 1, that ours "
           "takes more. Where each target comes from: `bench/*_bench.py`.", ""]
    for area, _ in AREAS + [("Other", ())]:
        if area in groups:
            out += [f"### {area}", ""]
            out += table(["target", "size", "measured", "goal", "verdict"], groups[area])
    return out


def size_section(mib, suites):
    out = [f"## {mib} MiB", ""]
    runs = sorted((r for s in suites for r in s.get("runs", [])),
                  key=lambda r: scenario_key(r["scenario"]))
    backup = next((s for s in suites if s["suite"] == "backup"), None)
    if backup:
        f = backup["figures"]
        out += [f"Dataset: {f['data_mib']['full']:.0f} MiB ({f['data_mib']['incr_1pct']:.0f} "
                f"after +1 %, {f['data_mib']['incr_10pct']:.0f} after +10 % more); "
                f"{backup['reps']} repetition(s), page cache "
                f"{'dropped before each run' if backup['cold_cache'] else 'NOT dropped (warm)'}.",
                ""]
    out += table(["scenario", "tool", "MiB/s", "wall s", "CPU s", "peak RSS MiB"],
                 [[r["scenario"], r["tool"], cell(r.get("mib_per_s"), "{:.0f}"),
                   cell(r["wall_s"], "{:.2f}"), cell(r["cpu_s"], "{:.2f}"),
                   cell(r["max_rss_mib"], "{:.0f}")] for r in runs])
    if backup:
        f = backup["figures"]
        out += ["What each tool's full backup stores (the `tar | lz4 -1` line is the dataset's "
                "LZ4 ratio):", ""]
        out += table(["tool", "stored MiB", "data / stored"],
                     [[t, cell(v, "{:.0f}"), cell(f["compression_ratio"][t], "{:.2f}")]
                      for t, v in f["stored_mib"].items()])
        if "bytes_read_mib" in f:
            out += ["MiB our providers read from the host per backup (an incremental reads only "
                    "what changed):", ""]
            out += table(["provider", *SCENARIO_ORDER[:3]],
                         [[p, *(cell(v.get(s), "{:.0f}") for s in SCENARIO_ORDER[:3])]
                          for p, v in f["bytes_read_mib"].items()])
        if "wal_archive_incremental" in f:
            w = f["wal_archive_incremental"]
            out += [f"wal_archive incrementals: +10 % changed "
                    f"{w['changed_10pct_over_1pct']:.1f}x the bytes of +1 % and took "
                    f"{cell(w['time_10pct_over_1pct'], '{:.1f}')}x the time.", ""]
        if "load" in f:
            load = f["load"]
            out += [f"Foreground appends (capped backup: rate_limit "
                    f"{load['rate_limit_mib_s']:g} MiB/s):", ""]
            out += table(["while", "events/s", "MB/s", "ack p50 ms", "ack p99 ms", "vs idle",
                          "window s", "backup s", "overlap", "host peak RSS MiB"],
                         [[k, f"{v['events_per_s']:.0f}", f"{v['mb_per_s']:.1f}",
                           f"{v['p50_ms']:.1f}", f"{v['p99_ms']:.1f}", f"{v['vs_idle']:.2f}",
                           f"{v['window_s']:.1f}",
                           f"{v['backup_s']:.1f}" if "backup_s" in v else "-",
                           f"{v['overlap']:.0%}" if "overlap" in v else "-",
                           f"{v['host_peak_rss_mib']:.0f}"]
                          for k, v in load.items() if isinstance(v, dict)])
        if "codec_floor" in f:
            c = f["codec_floor"]
            out += [f"Codec floor: the engine's codec alone (LZ4 frame, XXH32, XXH3-64, "
                    f"XXH3-128) over the dataset in memory on {c['threads']:.0f} threads takes "
                    f"{cell(c['floor_s'], '{:.2f}')} s ({cell(c['floor_MiBps'], '{:.0f}')} MiB/s); "
                    f"no full backup in this format can be faster here. Full backup time / "
                    f"floor, per tool (below 1: the tool does less than the format asks; cp -r "
                    f"compresses and checksums nothing):", ""]
            out += table(["tool", "full backup time / codec floor"],
                         [[t, cell(v, "{:.2f}")] for t, v in c["full_over_floor"].items()])
        if "abi_cost" in f:
            a = f["abi_cost"]
            out += [f"ABI cost: a backup through the null provider reads "
                    f"{a['null_MiBps']:.0f} MiB/s, plain reads of the same files "
                    f"{a['direct_MiBps']:.0f} MiB/s (page cache warm).", ""]
    impact = next((s for s in suites if s["suite"] == "append_impact"), None)
    if impact:
        out += append_impact_section(impact)
    for s in suites:
        if s["suite"] not in ("backup", "append_impact") and s.get("figures"):
            out += [f"Figures of `{s['suite']}`:", ""]
            out += [f"* {k}: {figure(v)}" for k, v in s["figures"].items()] + [""]
    return out


def append_impact_section(suite):
    """The append-impact curve's rows: per mode, appends (x idle, ack p99)
    against the backup's time (x the same backup alone, pacing off)."""
    f = suite["figures"]
    out = [f"Append impact ({suite['reps']} repetition(s), load window {f['window_s']:.1f} s, "
           f"load average {' '.join(f['load_average_before'])} before, "
           f"{' '.join(f['load_average_after'])} after): appends during each kind of hot "
           f"backup, against the backup's time.", ""]
    rows = []
    for mode, r in f["append_impact"].items():
        rows.append([mode, cell(r.get("events_per_s"), "{:.0f}"),
                     cell(r.get("throughput_vs_idle"), "{:.2f}"), cell(r.get("p99_ms"), "{:.1f}"),
                     cell(r.get("p99_vs_idle"), "{:.2f}"), cell(r.get("backup_s"), "{:.2f}"),
                     cell(r.get("backup_vs_alone"), "{:.2f}"),
                     cell(r.get("overlap"), "{:.2f}")])
    return out + table(["mode", "appends/s", "x idle", "ack p99 ms", "p99 x idle", "backup s",
                        "backup x alone (off)", "overlap"], rows)


def figure(value):
    """A suite's extra figure: a stats() dict as "median (min-max)", a dict
    of them as "name median (min-max)" pairs, anything else as JSON."""
    def is_stats(v):
        return isinstance(v, dict) and set(v) == {"median", "min", "max"}

    def shown(s):  # seconds to the hundredth, rates whole
        return cell(s, "{:.0f}" if s["median"] >= 100 else "{:.2f}")
    if is_stats(value):
        return shown(value)
    if isinstance(value, dict) and value and all(is_stats(v) for v in value.values()):
        return ", ".join(f"{k} {shown(v)}" for k, v in value.items())
    return f"`{json.dumps(value)}`"


def micro_section(results):
    m = next((s for s in results["suites"] if s["suite"] == "micro"), None)
    if m is None:
        return []
    f = m["figures"]
    c = f["object_codec"]
    rows = [["object codec: LZ4 frame + XXH3-64 + XXH3-128 (FrameEncoder)",
             cell(c["pipeline_MiBps"], "{:.0f}") + " MiB/s"],
            ["raw: stock LZ4F frame API + XXH3-64, same 1 MiB buffers",
             cell(c["raw_MiBps"], "{:.0f}") + " MiB/s"],
            ["floor: the codec's own library calls (LZ4 blocks, XXH32, XXH3-64)",
             cell(c["floor_MiBps"], "{:.0f}") + " MiB/s"],
            ["codec time / floor time (its framing, buffering and XXH3-128)",
             cell(c["pipeline_vs_floor_time"], "{:.2f}")],
            ["LZ4 ratio of the benchmark's events", cell(c["lz4_ratio"], "{:.2f}")]]
    rows += [[f"manifest {op}, {v['files']:.0f} files ({v['json_mib']:.1f} MiB of JSON)",
              cell(v["ms_per_call"], "{:.0f}") + " ms"] for op, v in f["manifest"].items()]
    return (["## Micro-benchmarks", "",
             f"`host_bench` (Google Benchmark), {m['reps']} repetition(s), single-threaded.", ""]
            + table(["", "median (min-max)"], rows))


SCALE_STEPS = ["full", "full_large", "incr_1pct", "incr_3pct", "incr_10pct", "list",
               "verify_latest", "verify_all", "restore", "full_again", "expire"]


def scale_section(results):
    """The scale suite (scale_bench.py): each step's time per dataset, the
    manifests' sizes, and the cost model (time against segments, against
    changed bytes)."""
    s = next((s for s in results["suites"] if s["suite"] == "scale"), None)
    if s is None:
        return []
    f = s["figures"]
    labels = list(f["sizes"])
    runs = {(r["tool"], r["scenario"]): r for r in s["runs"]}
    out = ["## Scale: many contexts, many small segments", "",
           f"{f['contexts']} contexts, {f['segment_kib']} KiB log and event segments, "
           f"wal_archive through `hostd` ({s['reps']} repetition(s); median (min-max) s, peak "
           f"RSS of the host in MiB). `full_large`: the same bytes as the largest dataset in "
           f"the backup suite's layout (16/64 MiB segments), paired with its `full`."
           + (f" Provider settings: `{f['settings']}`." if f.get("settings") else ""), ""]
    header = ["step"] + [f"{f['sizes'][k]['segments']} closed segments, "
                         f"{f['sizes'][k]['mib']:.0f} MiB" for k in labels]
    rows = []
    for step in SCALE_STEPS:
        cells = []
        for k in labels:
            r = runs.get((k, step))
            if r is None:
                cells.append("-")
                continue
            text = f"{cell(r['wall_s'], '{:.2f}')} s, {r['max_rss_mib']['max']:.0f} MiB"
            if "changed_mib" in r:
                text += f" (+{r['changed_mib']['median']:.1f} MiB)"
            cells.append(text)
        if any(c != "-" for c in cells):
            rows.append([step] + cells)
    rows.append(["manifest bytes (full; incr +1 %)"] + [
        f"{f['sizes'][k]['manifest_bytes'].get('full', 0) / 1e6:.2f} MB; "
        f"{f['sizes'][k]['manifest_bytes'].get('incr_1pct', 0) / 1e6:.3f} MB" for k in labels])
    return out + table(header, rows)


def commands_section(results):
    backup = next((s for s in results["suites"] if s["suite"] == "backup"), None)
    if backup is None:
        return []
    rows = [[tool, scenario, f"`{cmd}`"]
            for tool, by_scenario in backup["figures"]["commands"].items()
            for scenario, cmd in sorted(by_scenario.items(), key=lambda kv: scenario_key(kv[0]))]
    return (["### The exact commands", "",
             "As run (`$REP` is the repetition's directory, `$BUILD` the build directory). "
             "restic gets `RESTIC_PASSWORD`; borg gets `BORG_BASE_DIR` inside `$REP`.", ""]
            + table(["tool", "scenario", "command"], rows))


SUMMARY_ROWS = [("full", "Full backup"), ("incr_1pct", "Backup after +1 %"),
                ("verify", "Verify everything"), ("restore", "Restore")]


def summary_section(results):
    """Seconds per operation and tool at the largest size, what each stores,
    and what a backup does to appends: the minute an operator has."""
    mib, suites = report_charts.largest_size(results)
    backup = next((s for s in suites if s["suite"] == "backup"), None)
    if backup is None:
        return []
    runs = {(r["scenario"], r["tool"]): r for r in backup["runs"]}
    tools = list(dict.fromkeys(t for (scenario, t) in runs
                               if scenario in dict(SUMMARY_ROWS)))
    rows = [[what, *(f"{runs[(sc, t)]['wall_s']['median']:.2f}" if (sc, t) in runs else "-"
                     for t in tools)] for sc, what in SUMMARY_ROWS]
    stored = backup["figures"].get("stored_mib", {})
    rows.append(["Stored after the full backup, MiB",
                 *(f"{stored[t]['median']:.0f}" if t in stored else "-" for t in tools)])
    out = ["## Summary", "",
           f"Seconds on a {mib} MiB host data directory, this machine (median of "
           f"{backup['reps']}; page cache dropped before each run). Ours are "
           f"{', '.join(f'`{t}`' for t in tools if report_charts.is_ours(t))}: "
           "driven as operators do, through `hostctl` against a running `hostd`.", ""]
    out += table(["", *tools], rows)
    load = backup["figures"].get("load")
    if load and "idle" in load:
        points, idle_p99 = report_charts.load_points(load)
        idle = load["idle"]
        out += [f"What a hot backup does to appends (idle: {idle['events_per_s']:.0f} events/s "
                f"acknowledged, p99 {idle_p99:.1f} ms):", ""]
        out += [f"* {name}: appends at {x:.2f}x idle, p99 {p99:.1f} ms, the backup taking "
                f"{b:.1f} s" for name, b, x, p99 in points]
        out += [""]
    return out


def markdown(results):
    out = ["# Benchmarks", "",
           f"Generated from `results.json` by `bench/report.py` on {results['generated']}; "
           f"do not edit by hand. Reproduce with `{results['command']}` "
           f"(it took {results['wall_s'] / 60:.1f} min).", ""]
    if results["quick"]:
        out += ["> **Quick smoke run** (one repetition at 256 MiB): it proves every scenario "
                "runs; its figures are not the project's.", ""]
    if results["note"]:
        out += [f"> **Note:** {results['note']}", ""]
    out += summary_section(results)
    out += ["## Charts", "", f"![Each scenario, tool by tool]({report_charts.SCENARIO_CHART})",
            "", f"![What a hot backup does to appends]({report_charts.APPEND_CHART})", ""]
    out += targets_section(results)
    for mib, suites in sizes(results):
        out += size_section(mib, suites)
    out += scale_section(results)
    out += micro_section(results)
    not_run = [f"`{s}` (not in this tree)" for s in results["suites_missing"]]
    not_run += [f"`{s}` (skipped with --skip)" for s in results["skipped"]]
    if not_run:
        out += ["## Not run", "", *[f"* {x}" for x in not_run], ""]
    out += machine_section(results)
    out += ["## How the figures are made", "", METHOD] + commands_section(results)
    return "\n".join(out).rstrip() + "\n"


def write(results, directory):
    """Writes BENCHMARKS.md and the chart into `directory`; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    md = directory / "BENCHMARKS.md"
    md.write_text(markdown(results))
    charts = [directory / name for name in (report_charts.SCENARIO_CHART,
                                            report_charts.APPEND_CHART)]
    report_charts.scenario_chart(results, charts[0])
    report_charts.append_chart(results, charts[1])
    return md, *charts


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    write(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
