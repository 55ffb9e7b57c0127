#!/usr/bin/env python3
"""Append impact: what a hot backup does to the host's appends, and what
the host's appends do to the backup, for each way of running it.

In one run, per repetition, each mode on a fresh copy of the dataset, a
fresh local_disk repository and a freshly started hostd ([backup] pacing
as the mode says), the page cache dropped first; the modes' order rotates
each repetition so the machine's other load falls on all of them alike:

  idle          appends alone (hostctl load at full speed: batches of 100,
                fsync "batch") for the load window
  auto          the same appends during an uncapped full backup, pacing "auto"
  off           the same during an uncapped full backup, pacing "off"
  limit N       the same during a backup capped at rate_limit = N MiB/s
                (pacing "off": the operator's manual knob), for each N in
                --limits
  alone auto,   the backup alone on the idle host, pacing "auto" and "off":
  alone off     what pacing costs a backup when nothing competes

The load window is 0.9x the time of one uncapped backup alone (measured
first, untimed), so the appends overlap the backup; a capped or yielding
backup runs on after the window ("overlap" is the share of the window the
backup covered). Per repetition: appends/s over idle's, ack p99 over idle's,
backup time over "alone off"'s; reported as medians with min-max, beside
the load average of the machine (uptime) before and after.

Results in the shape of benchlib.py (suite "append_impact"; the figures
carry one row per mode for the append-impact curve: append throughput and
p99 against backup time); progress lines on stdout.
"""
import json
import shutil
import subprocess
from pathlib import Path

from backup_bench import parse_load
from benchlib import (Host, checked, drop_caches, ensure_dataset, fail, measured, ratio,
                      stats, suite_args, write_results)

MIB = 1 << 20


class Binaries:
    """The build's binaries this script runs (a build without the micro-
    benchmarks will do)."""

    def __init__(self, build_dir):
        d = Path(build_dir).resolve()
        self.dir = d
        self.hostd = d / "host_stub" / "hostd"
        self.hostctl = d / "host_stub" / "hostctl"
        self.dataset = d / "bench" / "bkp_dataset"
        self.plugins = d / "plugins"
        for path in [self.hostd, self.hostctl, self.dataset, self.plugins / "bkp_local_disk.so"]:
            if not path.exists():
                fail(f"{path} is missing: build {d} (bench/run.sh does)")


def uptime():
    return Path("/proc/loadavg").read_text().split()[:3]


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = Binaries(args.build)
        self.work = Path(args.work).resolve() / "append_impact"
        self.base = ensure_dataset(self.build, args.work, args.mib)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.commands = {}

    def say(self, text):
        print(f"[append impact {self.args.mib} MiB] {text}", flush=True)

    def config(self, run_dir, pacing, limit_mib):
        return (f'plugin_dir = "{self.build.plugins}"\n'
                f'[storage]\ndata_dir = "{run_dir / "data"}"\nfsync = "batch"\n'
                f"[server]\nport = 0\n[backup]\npacing = \"{pacing}\"\n"
                f'[[providers]]\nname = "local_disk"\nplugin = "local_disk"\n'
                f'[providers.settings]\npath = "{run_dir / "repo"}"\n'
                f"rate_limit = {int(limit_mib * MIB)}\n")

    def run(self, label, pacing, limit_mib, load_s, backup):
        """One mode on a fresh data directory and host: the load's figures
        and the backup's wall time, as a dict."""
        run_dir = self.work / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir()
        checked(["cp", "-a", self.base, run_dir / "data"])
        cfg = run_dir / "hostd.toml"
        cfg.write_text(self.config(run_dir, pacing, limit_mib))
        out = {}
        with Host(self.build.hostd, cfg, run_dir) as host:
            drop_caches()
            load = None
            if load_s:
                cmd = [str(self.build.hostctl), "--port", host.port, "load", "--context",
                       "default", "--rate", "1000000", "--batch", "100", "--duration",
                       f"{load_s:.2f}"]
                self.commands.setdefault("load", " ".join(cmd[:1] + cmd[3:]))
                load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
            if backup:
                cmd = [self.build.hostctl, "--port", host.port, "backup", "create",
                       "--provider", "local_disk", "--json"]
                r = measured(cmd, cold=False)
                result = json.loads(r["stdout"])["operation"]["result"]
                out.update(backup_s=r["wall_s"], backup_mib=result["bytes_read"] / MIB)
                if load_s:
                    out["overlap"] = min(r["wall_s"], load_s) / load_s
            if load:
                stdout, stderr = load.communicate()
                if load.returncode != 0:
                    fail(f"hostctl load failed (exit {load.returncode}):\n{stderr[-2000:]}")
                out.update(parse_load(stdout))
        shutil.rmtree(run_dir, ignore_errors=True)
        shown = [f"{out['events_per_s']:8.0f} events/s p99 {out['p99_ms']:6.1f} ms"
                 if "events_per_s" in out else " " * 33,
                 f"backup {out['backup_s']:6.2f} s" if "backup_s" in out else ""]
        self.say(f"{label:<12} {' '.join(shown)}")
        return out


def modes(limits):
    """(label, pacing, manual limit MiB/s, with load, with backup)"""
    return ([("idle", "auto", 0, True, False), ("auto", "auto", 0, True, True),
             ("off", "off", 0, True, True)]
            + [(f"limit {n:g}", "off", n, True, True) for n in limits]
            + [("alone auto", "auto", 0, False, True), ("alone off", "off", 0, False, True)])


def main():
    ap = suite_args(__doc__)
    ap.add_argument("--limits", default="50,100,200",
                    type=lambda s: [float(x) for x in s.split(",") if x],
                    help="the manual rate_limit values, MiB/s (default %(default)s)")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
    bench = Bench(args)
    load_before = uptime()
    calibration = bench.run("calibrate", "off", 0, 0, True)
    window = max(1.0 if args.quick else 2.0, 0.9 * calibration["backup_s"])
    bench.say(f"load window {window:.1f} s; load average {' '.join(load_before)}")
    all_modes = modes(args.limits)
    samples = {m[0]: [] for m in all_modes}
    for rep in range(args.reps):
        order = all_modes[rep % len(all_modes):] + all_modes[:rep % len(all_modes)]
        for label, pacing, limit, with_load, with_backup in order:
            samples[label].append(bench.run(label, pacing, limit, window if with_load else 0,
                                            with_backup))
    load_after = uptime()

    def per_rep(label, key, base_label, base_key=None):
        return [s[key] / b[base_key or key] for s, b in zip(samples[label], samples[base_label])]

    rows = {}
    for label, _, limit, with_load, with_backup in all_modes:
        row = {"manual_limit_mib_s": limit or None}
        if with_load:
            row["events_per_s"] = stats([s["events_per_s"] for s in samples[label]])
            row["p99_ms"] = stats([s["p99_ms"] for s in samples[label]])
            row["throughput_vs_idle"] = stats(per_rep(label, "events_per_s", "idle"))
            row["p99_vs_idle"] = stats(per_rep(label, "p99_ms", "idle"))
        if with_backup:
            row["backup_s"] = stats([s["backup_s"] for s in samples[label]])
            row["backup_vs_alone"] = stats(per_rep(label, "backup_s", "alone off"))
            if with_load:
                row["overlap"] = stats([s["overlap"] for s in samples[label]])
        rows[label] = row

    source = "issue 23"
    ratios = [
        ratio("appends during an uncapped hot backup (pacing auto): throughput / idle",
              per_rep("auto", "events_per_s", "idle"), ">= 0.9", source),
        ratio("appends during an uncapped hot backup (pacing auto): ack p99 / idle",
              per_rep("auto", "p99_ms", "idle"), "<= 2", source),
        ratio("a backup alone on an idle host: time with pacing auto / off",
              per_rep("alone auto", "backup_s", "alone off"), "<= 1.1", source),
    ]
    figures = {"append_impact": rows, "window_s": window, "limits_mib_s": args.limits,
               "load_average_before": load_before, "load_average_after": load_after,
               "commands": bench.commands}
    write_results(args.out, {"suite": "append_impact", "dataset_mib": args.mib,
                             "reps": args.reps, "cold_cache": drop_caches(), "runs": [],
                             "ratios": ratios, "figures": figures})
    shutil.rmtree(bench.work, ignore_errors=True)
    for r in ratios:
        s = r["value"]
        bench.say(f"{r['name']}: {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}), "
                  f"target {r['target']}: {'met' if r['met'] else 'NOT met'}")
    bench.say(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")


if __name__ == "__main__":
    main()
