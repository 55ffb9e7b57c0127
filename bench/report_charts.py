"""The charts of docs/BENCHMARKS.md, drawn by gnuplot as SVG from a merged
results file (bench/harness.py). Every figure comes from the results file.

Two charts, each read without the tables:
  benchmarks.svg     one panel per scenario at the largest size: a horizontal
                     bar per tool, the tool's colour the same in every panel,
                     the value written on the bar, and in the panel's title
                     how our best provider compares with the peers
  append-impact.svg  what a hot backup does to the host's appends: append
                     throughput (x idle) and ack p99 against the backup's
                     time, one point per backup mode (the issue 23 curve)
"""
import subprocess
import tempfile
from pathlib import Path

from benchlib import fail

SCENARIO_CHART = "benchmarks.svg"
APPEND_CHART = "append-impact.svg"

# Panels in this order; "seconds" panels are incrementals, where a rate over
# the whole data directory would read as a speed the tool never reached.
PANELS = [
    ("full", "Full backup", "MiB/s"),
    ("incr_1pct", "Backup after +1 %", "seconds"),
    ("incr_10pct", "Backup after +10 % more", "seconds"),
    ("verify", "Verify the whole repository", "MiB/s"),
    ("restore", "Restore", "MiB/s"),
    ("full backup", "Full backup to S3 (local server)", "MiB/s"),
]
# The peers each panel's title compares ours with (a tool whose name starts so).
PEERS = {"full backup": ("aws s3 cp",)}
DEFAULT_PEERS = ("restic", "borg")
# Our providers, compared with the peers in each panel's title.
OURS = ("local_disk", "wal_archive", "remote provider")
# Colour-blind-safe, distinct on white (Okabe-Ito, then Tol's muted): a tool
# keeps its colour in every panel, assigned in the order tools first appear.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#332288", "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#661100"]


def largest_size(results):
    """(size in MiB, its suites) of the largest size that has runs."""
    for mib in sorted(results["sizes_mib"], reverse=True):
        suites = [s for s in results["suites"] if s.get("size_mib") == mib]
        if any(s.get("runs") for s in suites):
            return mib, suites
    return None, []


def colours(results):
    """A colour per tool that a panel draws (only those: the palette is
    short, and the other scenarios' tools, such as append loads, are not
    drawn)."""
    drawn = {scenario for scenario, _, _ in PANELS}
    tools = list(dict.fromkeys(r["tool"] for s in results["suites"] for r in s.get("runs", [])
                               if r["scenario"] in drawn))
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(tools)}


def short(tool):
    """A tool's name without its parenthesised detail, for panel titles."""
    return tool.split(" (")[0]


def is_ours(tool):
    return tool.startswith(OURS)


def comparison(rows, unit, peer_names):
    """'local_disk 4.9x restic, 3.4x borg': our fastest provider against each
    peer present, from the medians (the targets table has the per-repetition
    ratios)."""
    ours = [(t, v) for t, v in rows if is_ours(t)]
    peers = [(t, v) for t, v in rows if t.startswith(peer_names)]
    if not ours or not peers:
        return ""
    best, value = (min if unit == "seconds" else max)(ours, key=lambda tv: tv[1])
    times = [f"{(p / value if unit == 'seconds' else value / p):.1f}x {short(t)}"
             for t, p in peers]
    return f"{short(best)}: {', '.join(times)}"


def gnuplot(script):
    r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"gnuplot failed (exit {r.returncode}):\n{r.stderr[-2000:]}")


def quoted(text):
    """A gnuplot double-quoted string (where \\n is a line break)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def scenario_chart(results, path):
    mib, suites = largest_size(results)
    palette = colours(results)
    panels = []
    with tempfile.TemporaryDirectory() as tmp:
        for scenario, title, unit in PANELS:
            runs = [r for s in suites for r in s.get("runs", []) if r["scenario"] == scenario]
            key = "wall_s" if unit == "seconds" else "mib_per_s"
            rows = [(r["tool"], r[key]["median"]) for r in runs if r.get(key)]
            if not rows:
                continue
            data = Path(tmp) / f"{len(panels)}.dat"
            # Top to bottom in the order the suite ran them: ours first.
            lines = [f"{len(rows) - 1 - i} {quoted(t)} {v:.4g} "
                     f"{int(palette[t][1:], 16)} {quoted(label(v, unit))}"
                     for i, (t, v) in enumerate(rows)]
            data.write_text("\n".join(lines) + "\n")
            versus = comparison(rows, unit, PEERS.get(scenario, DEFAULT_PEERS))
            better = "lower" if unit == "seconds" else "higher"
            heading = f"{title} ({unit}, {better} is better)" + (f"\n{versus}" if versus else "")
            top = max(v for _, v in rows)
            panels.append(
                f"set title {quoted(heading)}\n"
                f"set xrange [0:{top * 1.28:.4g}]\nset yrange [-0.6:{len(rows) - 0.4}]\n"
                f'plot "{data}" using ($3/2):1:($3/2):(0.38):4:ytic(2) with boxxyerror '
                f"lc rgb variable notitle, \\\n"
                f'  "" using 3:1:5 with labels left offset 0.4,0 notitle\n')
        if not panels:
            return False
        rows_of_panels = (len(panels) + 1) // 2
        script = f"""set terminal svg size 1200,{300 * rows_of_panels + 40} dynamic noenhanced \\
  font "sans,11" background rgb "white"
set output "{path}"
set multiplot layout {rows_of_panels},2 title "{mib} MiB dataset, median of the repetitions" \\
  font "sans,13"
set style fill solid 0.9 border rgb "#404040"
set grid xtics lc rgb "#dddddd"
set lmargin 30
set tmargin 3.2
set ytics scale 0 nomirror
set xtics nomirror
set border 3
""" + "\n".join(panels) + "unset multiplot\n"
        gnuplot(script)
    return True


def label(value, unit):
    if unit == "seconds":
        return f"{value:.2f} s"
    return f"{value:.0f}"


def load_points(load):
    """(label, backup s, appends x idle, p99 ms) of each backup mode of a
    load figure (bench/backup_bench.py append_load), and the idle p99."""
    points = []
    for name, v in load.items():
        if isinstance(v, dict) and "backup_s" in v:
            points.append((mode_label(name, load), v["backup_s"], v["vs_idle"], v["p99_ms"]))
    idle = load.get("idle", {})
    return points, idle.get("p99_ms")


def mode_label(name, load):
    """A backup mode's human name: the harness's keys are identifiers."""
    named = {"hot_backup": "uncapped",
             "hot_backup_rate_limited": f"rate_limit {load.get('rate_limit_mib_s', 0):g} MiB/s"}
    return named.get(name, name.replace("hot_backup_", "").replace("_", " "))


def append_chart(results, path):
    mib, suites = largest_size(results)
    load = next((s["figures"]["load"] for s in suites
                 if s.get("figures", {}).get("load")), None)
    if not load:
        return False
    points, idle_p99 = load_points(load)
    if not points:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "load.dat"
        data.write_text("".join(f"{quoted(n)} {b:.4g} {x:.4g} {p:.4g}\n"
                                for n, b, x, p in points))
        longest = max(b for _, b, _, _ in points)
        worst = max(p for _, _, _, p in points)
        script = f"""set terminal svg size 1200,430 dynamic noenhanced font "sans,11" \\
  background rgb "white"
set output "{path}"
set multiplot layout 1,2 title "What a hot backup does to appends ({mib} MiB, one point \
per backup mode; dashed: the goals)" font "sans,13"
set grid lc rgb "#dddddd"
set border 3
set xtics nomirror
set ytics nomirror
set xlabel "backup time, s"
set xrange [0:{longest * 1.25:.4g}]
set title "append throughput during the backup, x idle (higher is better)"
set yrange [0:1.15]
set arrow from graph 0, first 0.9 to graph 1, first 0.9 nohead dt 2 lc rgb "#009E73"
set label 1 "0.9x idle" at graph 0.02, first 0.9 offset 0,0.6 tc rgb "#009E73"
plot "{data}" using 2:3 with points pt 7 ps 1.3 lc rgb "#0072B2" notitle, \\
  "" using 2:3:1 with labels left offset 0.8,0.4 notitle
unset arrow
unset label 1
set title "append ack p99 during the backup, ms (lower is better)"
set yrange [0:{max(worst, 2 * (idle_p99 or 0)) * 1.2:.4g}]
""" + (f"""set arrow from graph 0, first {2 * idle_p99:.4g} to graph 1, first {2 * idle_p99:.4g} \\
  nohead dt 2 lc rgb "#009E73"
set label "2x idle p99" at graph 0.02, first {2 * idle_p99:.4g} offset 0,0.6 tc rgb "#009E73"
""" if idle_p99 else "") + f"""plot "{data}" using 2:4 with points pt 7 ps 1.3 lc rgb "#D55E00" notitle, \\
  "" using 2:4:1 with labels left offset 0.8,0.4 notitle
unset multiplot
"""
        gnuplot(script)
    return True
