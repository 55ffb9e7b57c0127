#!/usr/bin/env python3
"""Backup suite: our providers beside the tools operators use instead, on one
realistic data directory (bkp_dataset: control DB, log segments, 64 MiB
event segments of 200-2000 byte JSON events), in one run.

Each repetition works on a fresh copy of the dataset and runs, in order:
  full        every tool backs up the data directory
  incr_1pct   +1 % new events (bkp_dataset --mutate 1), then every tool
              that keeps history backs up again into the same repository
  incr_10pct  +10 % more, likewise
  verify      every tool re-reads and checks its whole repository
  restore     every tool restores its full backup into a fresh directory,
              whose size is checked against the source
Our providers run as they ship (LZ4), local_disk also encrypted (age) and
with compression = "zstd" at each --zstd-levels level.
Tools (backup_tools.py): local_disk and wal_archive through a running hostd
(hostctl, as operators do; `hostd restore` offline), cp -r, tar | lz4 -1,
tar | zstd -1 -T0, restic, borg. Within a scenario the tools run one after
another, their order rotated each repetition; the page cache is dropped
before each timed run. Ratios are taken within a repetition, then their
median over the repetitions is reported.

Then, once per size:
  load        foreground appends (hostctl load, saturating, batch 100, fsync
              batch) idle, during a local_disk hot backup, and during one
              capped by its rate_limit: events/s and ack latency
  abi cost    host_bench's BM_AbiCost: a backup through the null provider
              vs plain reads of the same files
  floor       host_bench's BM_CodecFloor: the engine's codec alone over the
              dataset in memory on every core, the time under which no
              full backup in the repository format can go here; `cp -r`'s
              time over it is the best full/cp -r ratio the format allows,
              reported beside that target

Results in the shape of benchlib.py; progress lines on stdout.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from backup_tools import INCREMENTAL, Provider, all_tools
from benchlib import (Build, Host, checked, dir_bytes, drop_caches, ensure_dataset, fail, measured,
                      ratio, run_entry, stats, suite_args, write_results)

SCENARIOS = ["full", "incr_1pct", "incr_10pct", "verify", "restore"]
MUTATIONS = {"incr_1pct": 1, "incr_10pct": 10}
SKIPPABLE = ["cp", "tar-lz4", "tar-zstd", "restic", "borg", "verify", "load", "abi", "floor",
             "wal_archive", "age", "zstd"]
MIB = 1 << 20


class Rep:
    """One repetition's directory: the data copy, the host's config, each
    tool's repository, restore targets. Removed at the end."""

    def __init__(self, directory, number):
        self.number = number
        self.dir = directory
        self.data = self.dir / "data"
        self.config = self.dir / "host.toml"
        self.host = None

    def restore_dir(self, tool):
        # By name: tools may share a key (the zstd levels share "zstd").
        return self.dir / ("restore-" + re.sub(r"[^A-Za-z0-9_]+", "-", tool.name))

    def env(self, **extra):
        return {**os.environ, **extra}


def host_config(data_dir, plugins, provider_entries):
    return (f'plugin_dir = "{plugins}"\n[storage]\ndata_dir = "{data_dir}"\nfsync = "batch"\n'
            f"[server]\nport = 0\n" + "".join(provider_entries))


class Suite:
    def __init__(self, args):
        self.args = args
        self.build = Build(args.build)
        self.work = Path(args.work).resolve() / "backup"
        self.base = ensure_dataset(self.build, args.work, args.mib)
        skip = set(args.skip)
        self.tools = [t for t in all_tools(self.build, args.zstd_levels) if t.key not in skip]
        self.providers = [t for t in self.tools if isinstance(t, Provider)]
        self.scenarios = [s for s in SCENARIOS if s not in skip]
        self.samples = {}  # (scenario, tool name) -> [measured dict per repetition]
        self.data_mib = {}  # scenario -> data directory MiB it ran on
        self.stored = {}  # tool name -> [bytes stored by its full backup]
        self.commands = {}  # tool name -> {scenario: command of the first repetition}
        self.floors = []  # BM_CodecFloor's entry per repetition, unless skipped

    def say(self, text):
        print(f"[backup {self.args.mib} MiB] {text}", flush=True)

    def run_scenario(self, scenario, rep, order):
        for tool in order:
            r = tool.run(scenario, rep)
            if r is None:
                continue
            self.samples.setdefault((scenario, tool.name), []).append(r)
            if rep.number == 0:
                self.commands.setdefault(tool.name, {})[scenario] = self.generic(r["cmd"], rep)
            self.say(f"rep {rep.number + 1}/{self.args.reps} {scenario:<10} {tool.name:<18} "
                     f"{r['wall_s']:7.2f} s  {self.data_mib[scenario] / r['wall_s']:8.1f} MiB/s  "
                     f"peak RSS {r['max_rss_mib']:6.1f} MiB{'' if r['cold'] else '  (warm)'}")

    def generic(self, cmd, rep):
        """A command as the report shows it: the run's paths and port as names."""
        cmd = cmd.replace(str(rep.dir), "$REP").replace(str(self.build.dir), "$BUILD")
        for p in self.providers:
            if "full" in p.backup_ids:
                cmd = cmd.replace(p.backup_ids["full"], "$FULL_BACKUP_ID")
        return cmd.replace(f"--port {rep.host.port} ", "--port $PORT ") if rep.host else cmd

    def codec_floor(self, rep):
        """BM_CodecFloor on this repetition's data, right after its full
        backups, so the ratios to them are taken within the repetition."""
        bench = host_bench(self, "BM_CodecFloor", {"BKP_CODEC_FLOOR_DIR": str(rep.data)})
        self.floors.append(bench)
        self.say(f"rep {rep.number + 1}/{self.args.reps} codec floor {bench['floor_s']:7.2f} s  "
                 f"{bench['floor_MiBps']:8.1f} MiB/s on {bench['threads']:.0f} threads")

    def over_floor(self, tool):
        """Per repetition: the tool's full backup time / the codec floor's."""
        walls = self.wall("full", tool)
        if not walls or len(walls) != len(self.floors):
            return None
        return stats([w / f["floor_s"] for w, f in zip(walls, self.floors)])

    def host(self, rep):
        return Host(self.build.hostd, rep.config, rep.dir)

    def repetition(self, number):
        rep = Rep(self.work / f"rep{number}", number)
        shutil.rmtree(rep.dir, ignore_errors=True)
        rep.dir.mkdir(parents=True)
        # The host and the mutations write to the data: each repetition gets a copy.
        checked(["cp", "-a", self.base, rep.data])
        rep.config.write_text(host_config(rep.data, self.build.plugins,
                                          [p.config_entry(rep) for p in self.providers]))
        for tool in self.tools:
            tool.prepare(rep)
        k = number % len(self.tools)
        order = self.tools[k:] + self.tools[:k]

        self.data_mib["full"] = self.data_mib["restore"] = dir_bytes(rep.data) / MIB
        with self.host(rep) as rep.host:
            self.run_scenario("full", rep, order)
        if "floor" not in self.args.skip:
            self.codec_floor(rep)
        for tool in self.tools:
            self.stored.setdefault(tool.name, []).append(tool.stored_bytes(rep))
        for scenario, percent in MUTATIONS.items():
            # A seed per mutation, so the two add different events.
            checked([self.build.dataset, "--dir", rep.data, "--mutate", percent, "--seed", percent])
            self.data_mib[scenario] = self.data_mib["verify"] = dir_bytes(rep.data) / MIB
            with self.host(rep) as rep.host:
                self.run_scenario(scenario, rep, order)
                if scenario == "incr_10pct" and "verify" in self.scenarios:
                    self.run_scenario("verify", rep, order)
        rep.host = None
        self.run_scenario("restore", rep, order)
        for tool in self.tools:
            restored = rep.restore_dir(tool)
            if restored.exists():
                got = dir_bytes(restored) / MIB
                if abs(got - self.data_mib["full"]) > 0.02 * self.data_mib["full"]:
                    fail(f"{tool.name} restored {got:.1f} MiB of the {self.data_mib['full']:.1f} "
                         f"MiB it backed up (in {restored})")
        shutil.rmtree(rep.dir)

    def wall(self, scenario, tool):
        return [s["wall_s"] for s in self.samples.get((scenario, tool), [])]

    def peak_rss(self, tool):
        """Per repetition: the largest peak RSS of any of the tool's runs."""
        per_scenario = [[s["max_rss_mib"] for s in v] for (_, t), v in self.samples.items()
                        if t == tool]
        return [max(rep) for rep in zip(*per_scenario)]

    def targets(self):
        """The targets issues 4 and 7 set, for each of our providers, each
        a ratio taken within a repetition. A target whose peer was skipped
        is listed as not measured, never left out."""
        out = []

        def add(name, source, target, ours, theirs, peer, per_rep):
            if not ours or not theirs:
                out.append({"name": name, "source": source, "value": None, "target": target,
                            "met": None, "note": f"{peer} was not run"})
                return
            out.append(ratio(name, [per_rep(a, b) for a, b in zip(ours, theirs)], target, source))

        def faster(ours, theirs):  # throughput ratio, from wall times on the same data
            return theirs / ours

        def share(ours, theirs):
            return ours / theirs

        for p in (t.name for t in self.providers if t.key not in ("age", "zstd")):
            for peer, bound in [("cp -r", 0.7), ("tar | lz4 -1", 2.5), ("borg", 2.5),
                                ("restic", 4)]:
                add(f"{p} full backup throughput / {peer}'s", "issue 7", f">= {bound}",
                    self.wall("full", p), self.wall("full", peer), peer, faster)
                # The most any backup in this format could reach against cp -r here.
                if peer == "cp -r" and out[-1]["value"] and self.over_floor(peer):
                    out[-1]["ceiling"] = self.over_floor(peer)
            add(f"{p} backup after +1 %: time / borg's incremental", "issue 7", "<= 0.5",
                self.wall("incr_1pct", p), self.wall("incr_1pct", "borg"), "borg", share)
            add(f"{p} restore throughput / restic's", "issue 7", ">= 2",
                self.wall("restore", p), self.wall("restore", "restic"), "restic", faster)
            for peer in ["restic", "borg"]:
                add(f"{p} peak RSS / {peer}'s", "issue 7", "< 1", self.peak_rss(p),
                    self.peak_rss(peer), peer, share)
        add("local_disk backup after +1 %: time / its full backup's", "issue 4", "<= 0.05",
            self.wall("incr_1pct", "local_disk"), self.wall("full", "local_disk"), "local_disk",
            share)
        add("local_disk restore throughput / lz4 -dc | tar -x's", "issue 4", ">= 2",
            self.wall("restore", "local_disk"), self.wall("restore", "tar | lz4 -1"),
            "tar | lz4 -1", faster)
        # Issue 19: encryption costs little beside the plain provider on the
        # same data, in the same repetition.
        enc, plain = "local_disk_age", "local_disk"
        add(f"{enc} full backup throughput / {plain}'s", "issue 19", ">= 0.85",
            self.wall("full", enc), self.wall("full", plain), plain, faster)
        add(f"{enc} restore throughput / {plain}'s", "issue 19", ">= 0.85",
            self.wall("restore", enc), self.wall("restore", plain), plain, faster)
        add(f"{enc} backup after +1 %: time / {plain}'s", "issue 19", "<= 1.15",
            self.wall("incr_1pct", enc), self.wall("incr_1pct", plain), plain, share)
        # Issue 23: with zstd, stored no larger than restic's (zstd too),
        # and still more than twice as fast both ways.
        for z in (t.name for t in self.providers if t.key == "zstd"):
            add(f"{z} stored size / restic's", "issue 23", "<= 1", self.stored.get(z),
                self.stored.get("restic"), "restic", share)
            add(f"{z} full backup throughput / restic's", "issue 23", ">= 2",
                self.wall("full", z), self.wall("full", "restic"), "restic", faster)
            add(f"{z} restore throughput / restic's", "issue 23", ">= 2",
                self.wall("restore", z), self.wall("restore", "restic"), "restic", faster)
        out.append(ratio("local_disk peak RSS, MiB (the host's, during its runs)",
                         self.peak_rss("local_disk"), "<= 64", "issue 4"))
        return out

    def figures(self):
        f = {"data_mib": self.data_mib,
             "stored_mib": {t: stats([b / MIB for b in v]) for t, v in self.stored.items()},
             "compression_ratio": {t: stats([self.data_mib["full"] * MIB / b for b in v])
                                   for t, v in self.stored.items()},
             "commands": self.commands}
        f["bytes_read_mib"] = {
            p.name: {s: stats([r["bytes_read"] / MIB for r in self.samples[(s, p.name)]])
                     for s in ["full", *INCREMENTAL] if (s, p.name) in self.samples}
            for p in self.providers}
        if self.floors:
            f["codec_floor"] = {
                **{k: stats([b[k] for b in self.floors])
                   for k in ["floor_s", "floor_MiBps", "ratio"]},
                "threads": self.floors[0]["threads"],
                "full_over_floor": {t.name: self.over_floor(t.name) for t in self.tools
                                    if self.over_floor(t.name)}}
        t1, t10 = self.wall("incr_1pct", "wal_archive"), self.wall("incr_10pct", "wal_archive")
        if t1 and t10:
            changed = {s: self.data_mib[s] - prev for s, prev in
                       [("incr_1pct", self.data_mib["full"]),
                        ("incr_10pct", self.data_mib["incr_1pct"])]}
            # Issue 5: incremental time grows with the changed bytes, not the total.
            f["wal_archive_incremental"] = {
                "changed_mib": changed,
                "time_10pct_over_1pct": stats([b / a for a, b in zip(t1, t10)]),
                "changed_10pct_over_1pct": changed["incr_10pct"] / changed["incr_1pct"]}
        return f

    def runs(self):
        return [run_entry(scenario, tool, samples, self.data_mib[scenario])
                for (scenario, tool), samples in self.samples.items()]


def append_load(suite, scratch):
    """Foreground appends idle, during a hot backup, and during a backup
    capped at --rate-limit-mib. Each load window is a little shorter than the
    backup it overlaps (the backup's idle duration, or size / cap), so the
    load runs while the backup does; "overlap" reports how much of the window
    the backup really covered."""
    args = suite.args
    local = next(p for p in suite.providers if p.name == "local_disk")
    rep = Rep(scratch, 0)
    cap = args.rate_limit_mib * MIB
    rep.config.write_text(host_config(rep.data, suite.build.plugins, [
        local.config_entry(rep), local.config_entry(rep, cap, name="local_disk_limited")]))
    full_s = stats(suite.wall("full", "local_disk") or [2.0])["median"]
    windows = {"idle": (max(1.0, 0.9 * full_s), None),
               "hot_backup": (max(1.0, 0.9 * full_s), "local_disk"),
               "hot_backup_rate_limited": (max(1.0, 0.9 * suite.data_mib["full"] /
                                               args.rate_limit_mib), "local_disk_limited")}
    out = {"rate_limit_mib_s": args.rate_limit_mib}
    with Host(suite.build.hostd, rep.config, scratch) as host:
        rep.host = host
        for label, (seconds, provider) in windows.items():
            drop_caches()
            host.reset_peak_rss()
            load = subprocess.Popen(
                [str(suite.build.hostctl), "--port", host.port, "load", "--context", "default",
                 "--rate", "1000000", "--batch", "100", "--duration", f"{seconds:.2f}"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            backup_s = None
            if provider:
                backup_s = measured(local.hostctl(rep, "backup", "create", "--provider",
                                                  provider), cold=False)["wall_s"]
            stdout, stderr = load.communicate()
            if load.returncode != 0:
                fail(f"hostctl load failed (exit {load.returncode}):\n{stderr[-2000:]}")
            out[label] = parse_load(stdout)
            out[label].update(window_s=seconds, host_peak_rss_mib=host.max_rss_mib())
            if backup_s is not None:
                out[label].update(backup_s=backup_s, overlap=min(backup_s, seconds) / seconds)
            suite.say(f"load {label:<24} {out[label]['events_per_s']:9.0f} events/s  "
                      f"p99 {out[label]['p99_ms']:7.1f} ms  over {seconds:.1f} s")
    for label in windows:
        out[label]["vs_idle"] = out[label]["events_per_s"] / out["idle"]["events_per_s"]
    return out


def parse_load(text):
    """'load: ... A events/s, B MB/s; ack latency p50 C ms, p99 D ms, ...'"""
    m = re.search(r"([\d.]+) events/s, ([\d.]+) MB/s; ack latency p50 ([\d.]+) ms, "
                  r"p99 ([\d.]+) ms", text)
    if not m:
        fail(f"cannot parse hostctl load output:\n{text}")
    return {"events_per_s": float(m.group(1)), "mb_per_s": float(m.group(2)),
            "p50_ms": float(m.group(3)), "p99_ms": float(m.group(4))}


def host_bench(suite, name, env):
    """One host_bench micro-benchmark's JSON entry; stops on its error."""
    out = checked([suite.build.host_bench, f"--benchmark_filter={name}",
                   "--benchmark_format=json"], env={**os.environ, **env})
    bench = json.loads(out)["benchmarks"][0]
    if bench.get("error_occurred"):
        fail(f"{name}: {bench.get('error_message')}")
    return bench


def abi_cost(suite, data):
    """host_bench's BM_AbiCost on a copy of this run's dataset."""
    bench = host_bench(suite, "BM_AbiCost", {"BKP_ABI_BENCH_DIR": str(data),
                                             "BKP_ABI_BENCH_MIB": str(suite.args.mib)})
    figures = {k: bench[k] for k in ["null_MiBps", "direct_MiBps", "null_vs_direct"]}
    suite.say(f"abi cost: null provider {figures['null_MiBps']:.0f} MiB/s, direct reads "
              f"{figures['direct_MiBps']:.0f} MiB/s")
    return figures


def main():
    ap = suite_args(__doc__)
    ap.add_argument("--skip", default="", type=lambda s: [x for x in s.split(",") if x],
                    help=f"comma-separated, from: {', '.join(SKIPPABLE)}; recorded in the results")
    ap.add_argument("--zstd-levels", default=[1],
                    type=lambda s: [int(x) for x in s.split(",") if x],
                    help="local_disk with compression = zstd at each of these levels "
                         "(default %(default)s; skip all with --skip zstd)")
    ap.add_argument("--rate-limit-mib", type=float, default=50,
                    help="local_disk's rate_limit in the capped load run (default %(default)s)")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
    unknown = set(args.skip) - set(SKIPPABLE)
    if unknown:
        ap.error(f"--skip: unknown {', '.join(sorted(unknown))}; "
                 f"choose from {', '.join(SKIPPABLE)}")
    suite = Suite(args)
    for number in range(args.reps):
        suite.repetition(number)
    ratios = suite.targets()
    figures = suite.figures()
    figures["skipped"] = args.skip

    scratch = suite.work / "once"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    checked(["cp", "-a", suite.base, scratch / "data"])
    if "abi" not in args.skip:
        figures["abi_cost"] = abi_cost(suite, scratch / "data")
        ratios.append(ratio("null provider backup throughput / direct reads'",
                            [figures["abi_cost"]["null_vs_direct"]], ">= 0.95",
                            "bench/abi_cost_bench.cc"))
    if "load" not in args.skip:
        figures["load"] = append_load(suite, scratch)
    shutil.rmtree(scratch)

    cold = all(r["cold"] for samples in suite.samples.values() for r in samples)
    write_results(args.out, {"suite": "backup", "dataset_mib": suite.data_mib["full"],
                             "reps": args.reps, "cold_cache": cold,
                             "runs": suite.runs(), "ratios": ratios, "figures": figures})


if __name__ == "__main__":
    main()
