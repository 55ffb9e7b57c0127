#!/usr/bin/env python3
"""Scale suite (issue 23 §3): does a backup's cost grow with what changed,
or with how many files the host holds?

Datasets (bkp_dataset): 50 contexts written evenly, log and event segments
rolled at --segment-kib (8 KiB), a few events per append, so tens of
thousands of closed segments hold a modest number of bytes; at three
segment counts (the largest >= 20 000 unless --quick). Beside the largest,
the same number of bytes laid out as the backup suite lays it out (two
contexts, 16 MiB log and 64 MiB event segments): "large segments".

Each repetition, on fresh copies, through a running hostd with wal_archive
(the provider that takes both full and incremental backups):
  full           the full backup of the many-segment data directory
  full_large     the same bytes in large segments (largest size only),
                 right before or after it (the order alternates by
                 repetition), so the throughput ratio is paired; then a
                 cold read of both layouts (tar into a pipe), the file
                 system's own cost per file, reported as the ratio's floor
  full_pair      the same pair at the segment size issue 23 measured by
                 hand (--pair-segment-kib 128, --pair-mib 512), each into a
                 fresh repository, with its read floor
  incr_1pct      bkp_dataset --mutate 1, then an incremental
  incr_<p>pct    at the largest size, two more mutations and incrementals
                 (the cost against changed bytes)
  (the rest at the largest size only)
  list           hostctl backup list
  verify_latest  hostctl backup verify latest (the newest backup's chain)
  verify_all     hostctl backup verify (every backup and the archive)
  restore        hostd restore of the newest incremental (its whole chain),
                 the host stopped, consistency check included (--no-restore
                 leaves it out)
  full_again     another full backup, from a repository holding every byte
                 already (per-file cost with nothing to store)
  expire         hostctl backup expire --keep-last 1 (drops the first chain,
                 collects its garbage)
and records the manifests' sizes. Peak RSS is the host's VmHWM during each
backup (the plugin runs in the host). The page cache is dropped before each
timed step where permitted.

Results in the shape of benchlib.py; progress lines on stdout.
"""
import argparse
import json
import shutil
import statistics
from pathlib import Path

from benchlib import (Host, checked, dir_bytes, fail, measured, ratio, run_entry, stats,
                      suite_args, write_results)

MIB = 1 << 20
CONTEXTS = 50
BATCH = 3  # events per append: a few records per 8 KiB segment
PROVIDER = "wal_archive"
MORE_CHANGES = [3, 10]  # % mutated after the +1 %, at the largest size


def closed_segments(data):
    """Closed segments of a data directory: every segment file but the
    newest of its stream."""
    n = 0
    for stream in Path(data).glob("contexts/*/*"):
        if stream.is_dir():
            n += max(0, len([p for p in stream.iterdir() if p.is_file()]) - 1)
    return n


class Binaries:
    """What this suite runs of a build: hostd, hostctl, bkp_dataset and the
    plugin directory (or --plugins, to measure other provider builds on the
    same host binaries)."""

    def __init__(self, build_dir, plugins=None):
        d = Path(build_dir).resolve()
        self.hostd = d / "host_stub" / "hostd"
        self.hostctl = d / "host_stub" / "hostctl"
        self.dataset = d / "bench" / "bkp_dataset"
        self.plugins = Path(plugins).resolve() if plugins else d / "plugins"
        for path in [self.hostd, self.hostctl, self.dataset, self.plugins / f"bkp_{PROVIDER}.so"]:
            if not path.exists():
                fail(f"{path} is missing: build {d} with BKP_BUILD_BENCH=ON (bench/run.sh does)")


class Suite:
    def __init__(self, args):
        self.args = args
        self.build = Binaries(args.build, args.plugins)
        self.work = Path(args.work).resolve() / "scale"
        self.samples = {}  # (label, scenario) -> [measured dict]
        self.info = {}  # label -> {"segments", "files", "mib", "manifest_bytes": {...}}
        self.changed = {}  # (label, scenario) -> [changed MiB]
        self.fresh = []  # [(full small wall, full large wall, small MiB, large MiB)]
        # The same pairs at the issue's own segment size (--pair-segment-kib).
        self.fresh_issue = []
        # Cold reads of each pair's two layouts (tar to a pipe): how much of
        # the per-file cost is the file system's, whoever reads.
        self.floor = []  # [(small read wall, large read wall)] beside self.fresh
        self.floor_issue = []

    def say(self, text):
        print(f"[scale] {text}", flush=True)

    def layout(self, segment_kib=None):
        return ["--contexts", CONTEXTS, "--segment-kib", segment_kib or self.args.segment_kib,
                "--batch", BATCH]

    def dataset(self, mib, small=True, segment_kib=None):
        kib = segment_kib or self.args.segment_kib
        path = Path(self.args.work).resolve() / (
            f"scale-{mib}-{kib}k" if small else f"dataset-{mib}")
        checked([self.build.dataset, "--dir", path, "--mib", mib,
                 *(self.layout(kib) if small else [])])
        return path

    def read_floor(self, data):
        """Wall time of a cold read of every file of `data` (tar into a
        pipe: tar skips reading when its output is /dev/null)."""
        return measured(["sh", "-c", 'tar -C "$1" -cf - . | cat >/dev/null', "floor",
                         data])["wall_s"]

    def config(self, rep_dir, data, small, segment_kib=None):
        kib = segment_kib or self.args.segment_kib
        segments = (f"event_segment_size = {kib * 1024}\n"
                    f"log_segment_size = {kib * 1024}\n") if small else ""
        (rep_dir / "host.toml").write_text(
            f'plugin_dir = "{self.build.plugins}"\n[storage]\ndata_dir = "{data}"\n'
            f'fsync = "batch"\n{segments}[server]\nport = 0\n'
            f'[[providers]]\nname = "{PROVIDER}"\nplugin = "{PROVIDER}"\n'
            f'[providers.settings]\npath = "{rep_dir / "repo"}"\n' + self.args.settings)
        return rep_dir / "host.toml"

    def hostctl(self, host, *args):
        return [self.build.hostctl, "--port", host.port, *args]

    def record(self, label, scenario, r, mib=None):
        self.samples.setdefault((label, scenario), []).append(r)
        rate = f"{mib / r['wall_s']:8.1f} MiB/s" if mib else " " * 14
        self.say(f"{label:<14} {scenario:<14} {r['wall_s']:7.2f} s {rate}  "
                 f"peak RSS {r['max_rss_mib']:6.1f} MiB")

    def backup(self, host, label, scenario, kind, mib):
        r = host.measured(self.hostctl(host, "backup", "create", "--provider", PROVIDER, "--type",
                                       kind, "--json"))
        result = json.loads(r["stdout"])["operation"]["result"]
        r["backup_id"] = result["backup_id"]
        r["bytes_read"] = result["bytes_read"]
        self.record(label, scenario, r, mib)
        return r

    def full_large(self, rep_dir, mib, label):
        d = rep_dir / "large"
        d.mkdir()
        checked(["cp", "-a", self.dataset(mib, small=False), d / "data"])
        cfg = self.config(d, d / "data", small=False)
        with Host(self.build.hostd, cfg, d) as host:
            r = self.backup(host, label, "full_large", "full", dir_bytes(d / "data") / MIB)
        shutil.rmtree(d)
        return r

    def repetition(self, number, mib, largest):
        rep_dir = self.work / f"rep{number}-{mib}"
        shutil.rmtree(rep_dir, ignore_errors=True)
        rep_dir.mkdir(parents=True)
        data = rep_dir / "data"
        checked(["cp", "-a", self.dataset(mib), data])
        segments = closed_segments(data)
        label = f"{segments} segs"
        info = self.info.setdefault(label, {"segments": segments, "mib": dir_bytes(data) / MIB,
                                            "files": sum(1 for _ in data.rglob("*.*")),
                                            "manifest_bytes": {}})
        cfg = self.config(rep_dir, data, small=True)
        large_first = largest and number % 2 == 1
        large = self.full_large(rep_dir, mib, label) if large_first else None
        ids = {}
        with Host(self.build.hostd, cfg, rep_dir) as host:
            full = self.backup(host, label, "full", "full", info["mib"])
            ids["full"] = full["backup_id"]
        if largest and not large_first:
            large = self.full_large(rep_dir, mib, label)
        if large:
            self.fresh.append((full["wall_s"], large["wall_s"], info["mib"],
                               dir_bytes(self.dataset(mib, small=False)) / MIB))
            self.floor.append((self.read_floor(data), self.read_floor(
                self.dataset(mib, small=False))))
            self.issue_pair(number)
        changes = [1] + (MORE_CHANGES if largest else [])
        for percent in changes:
            checked([self.build.dataset, "--dir", data, "--mutate", percent, "--seed", percent,
                     *self.layout()])
            scenario = f"incr_{percent}pct"
            with Host(self.build.hostd, cfg, rep_dir) as host:
                r = self.backup(host, label, scenario, "incremental", dir_bytes(data) / MIB)
            ids[scenario] = r["backup_id"]
            # What changed is what the backup had to read: the new bytes of
            # active and new segments, and the control DB.
            self.changed.setdefault((label, scenario), []).append(r["bytes_read"] / MIB)
        for scenario, backup_id in ids.items():
            manifest = rep_dir / "repo" / "backups" / f"{backup_id}.json"
            info["manifest_bytes"][scenario] = manifest.stat().st_size
        if largest:  # the rest once, on the largest dataset
            self.operations(rep_dir, cfg, label, ids[f"incr_{changes[-1]}pct"], data)
        shutil.rmtree(rep_dir)

    def issue_pair(self, number):
        """A full backup of --pair-mib in segments of --pair-segment-kib
        beside the same bytes in large segments, each into a fresh
        repository, plus the cold read floor of both layouts."""
        kib, mib = self.args.pair_segment_kib, self.args.pair_mib
        walls = {}
        for small in ([True, False] if number % 2 == 0 else [False, True]):
            d = self.work / f"pair-{'small' if small else 'large'}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            source = self.dataset(mib, small=small, segment_kib=kib)
            checked(["cp", "-a", source, d / "data"])
            cfg = self.config(d, d / "data", small=small, segment_kib=kib)
            label = f"{kib} KiB segs" if small else "large segs"
            with Host(self.build.hostd, cfg, d) as host:
                r = self.backup(host, label, "full_pair", "full", dir_bytes(d / "data") / MIB)
            walls[small] = (r["wall_s"], dir_bytes(d / "data") / MIB, self.read_floor(source))
            shutil.rmtree(d)
        (sw, sm, sf), (lw, lm, lf) = walls[True], walls[False]
        self.fresh_issue.append((sw, lw, sm, lm))
        self.floor_issue.append((sf, lf))

    def operations(self, rep_dir, cfg, label, newest, data):
        """list, verify, restore, a second full backup and expire."""
        mib = self.info[label]["mib"]
        with Host(self.build.hostd, cfg, rep_dir) as host:
            for scenario, cmd in [("list", ["backup", "list", "--provider", PROVIDER]),
                                  ("verify_latest", ["backup", "verify", "--provider", PROVIDER,
                                                     "latest"]),
                                  ("verify_all", ["backup", "verify", "--provider", PROVIDER])]:
                self.record(label, scenario, host.measured(self.hostctl(host, *cmd)))
        if self.args.restore:
            target = rep_dir / "restored"
            self.record(label, "restore",
                        measured([self.build.hostd, "restore", "--config", cfg, "--provider",
                                  PROVIDER, "--backup", newest, "--data-dir", target]), mib)
            shutil.rmtree(target)
        with Host(self.build.hostd, cfg, rep_dir) as host:
            self.backup(host, label, "full_again", "full", dir_bytes(data) / MIB)
            self.record(label, "expire", host.measured(self.hostctl(
                host, "backup", "expire", "--provider", PROVIDER, "--keep-last", "1")))

    def walls(self, label, scenario):
        return [s["wall_s"] for s in self.samples.get((label, scenario), [])]

    def results(self):
        labels = sorted(self.info, key=lambda k: self.info[k]["segments"])
        largest = labels[-1]
        ratios = []
        pairs = [(self.fresh, self.floor, f"{self.args.segment_kib} KiB"),
                 (self.fresh_issue, self.floor_issue, f"{self.args.pair_segment_kib} KiB")]
        for fresh, floor, size in pairs:
            if not fresh:
                continue
            r = ratio(f"full backup throughput, many small segments ({size}) / the same bytes "
                      f"in large ones", [(ms / s) / (ml / l) for s, l, ms, ml in fresh], ">= 0.8",
                      "issue 23")
            # The file system's own share: a cold read of the small layout
            # against the large one, per byte. A backup cannot beat it.
            r["ceiling"] = stats([(ms / fs) / (ml / fl) for (_, _, ms, ml), (fs, fl)
                                  in zip(fresh, floor)])
            r["ceiling_what"] = "a cold read of the same files (tar)"
            ratios.append(r)
        full_rate = statistics.median(self.info[largest]["mib"] / w
                                      for w in self.walls(largest, "full"))
        # Budget: 1 s plus the changed bytes at the full backup's own rate.
        budget = [w / (1 + c / full_rate) for w, c in
                  zip(self.walls(largest, "incr_1pct"), self.changed[(largest, "incr_1pct")])]
        ratios.append(ratio("incremental after +1 %: time / (1 s + changed bytes at full-backup "
                            "speed)", budget, "<= 1", "issue 23"))
        # The many-segment backups only: full_large, beside them under the
        # same label, holds the large layout's 27 files.
        rss = [s["max_rss_mib"] for (label, scenario), v in self.samples.items()
               for s in v if label == largest and (scenario in ("full", "full_again")
                                                   or scenario.startswith("incr"))]
        ratios.append(ratio("peak RSS of the host during a backup, MiB", rss, "<= 64",
                            "issue 23"))
        runs = []
        for (label, scenario), samples in self.samples.items():
            entry = run_entry(scenario, label, samples)
            if (label, scenario) in self.changed:
                entry["changed_mib"] = stats(self.changed[(label, scenario)])
            runs.append(entry)
        figures = {"sizes": {k: self.info[k] for k in labels},
                   "contexts": CONTEXTS, "segment_kib": self.args.segment_kib,
                   "settings": self.args.settings.strip(),
                   "full_mib_per_s": {k: stats([self.info[k]["mib"] / w
                                                for w in self.walls(k, "full")])
                                      for k in labels}}
        if self.fresh_issue:
            figures["pair"] = {"segment_kib": self.args.pair_segment_kib,
                               "mib": self.args.pair_mib,
                               "files": sum(1 for _ in self.dataset(
                                   self.args.pair_mib, segment_kib=self.args.pair_segment_kib)
                                   .rglob("*.*"))}
        if self.fresh:
            figures["full_large_mib_per_s"] = stats([ml / lw for _, lw, _, ml in self.fresh])
            figures["full_small_mib_per_s"] = stats([ms / sw for sw, _, ms, _ in self.fresh])
        figures["plugins"] = str(self.build.plugins)
        return {"suite": "scale", "dataset_mib": self.info[largest]["mib"],
                "reps": self.args.reps, "cold_cache": all(
                    s["cold"] for v in self.samples.values() for s in v),
                "runs": runs, "ratios": ratios, "figures": figures}


def main():
    ap = suite_args(__doc__)
    ap.add_argument("--scale-mib", default="40,80,160",
                    help="the many-segment datasets' sizes in MiB (default %(default)s: about "
                         "5 000, 10 000 and 20 000 closed segments of 8 KiB)")
    ap.add_argument("--segment-kib", type=int, default=8, help="segment size (default 8 KiB)")
    ap.add_argument("--restore", action=argparse.BooleanOptionalAction, default=True,
                    help="restore the newest backup (default: on)")
    ap.add_argument("--pair-segment-kib", type=int, default=128,
                    help="segment size of the second small/large pair (default %(default)s, "
                         "as issue 23 measured it by hand)")
    ap.add_argument("--pair-mib", type=int, default=512,
                    help="size of the second pair's datasets (default %(default)s)")
    ap.add_argument("--plugins", help="plugin directory to use instead of the build's")
    # The scenario measures the trusting path (full_check_every above 1,
    # opt-in: docs/operations.md says when it is safe).
    ap.add_argument("--settings", default="full_check_every = 10\n",
                    help="TOML lines for the provider's [providers.settings] "
                         "(default: %(default)r)")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.scale_mib, args.pair_mib = 1, "8", 16
    if args.settings and not args.settings.endswith("\n"):
        args.settings += "\n"
    suite = Suite(args)
    sizes = [int(s) for s in args.scale_mib.split(",")]
    for number in range(args.reps):
        for mib in sizes:
            suite.repetition(number, mib, largest=mib == max(sizes))
    write_results(args.out, suite.results())


if __name__ == "__main__":
    main()
