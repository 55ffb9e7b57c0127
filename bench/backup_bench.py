#!/usr/bin/env python3
"""Backup benchmark: local_disk beside the tools people use instead.

On one realistic data directory (default 1 GiB: 64 MiB event segments,
JSON-like events of 200-2000 bytes), in one run, interleaved per repetition:

  full backup      hostctl backup create (local_disk, through a running
                   hostd)  vs  cp -r  and  tar | lz4 -1
  second backup    after +1 % new events, into the same repository
  restore          hostd restore                     vs  lz4 -dc | tar -x
  append load      hostctl load during a hot backup vs idle, with and
                   without the provider's rate limit

Every command runs as a child process; wall time, CPU time and peak RSS come
from the OS (wait4; for backups, which run inside hostd, the host's VmHWM). Page caches are dropped before each timed run where
permitted (root, /proc/sys/vm/drop_caches), else the run says "warm".
Figures are medians over --reps with min-max, and ratios against the peer
measured in the same run. Results: JSON (--out) and a markdown table on
stdout.

Usage: bench/backup_bench.py --build BUILD_DIR [--mib 1024] [--reps 3]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchlib import Host, dir_bytes, drop_caches, measured, stats


def newest_backup(repo):
    ids = sorted(p.stem for p in (Path(repo) / "backups").glob("*.json"))
    return ids[-1]


def write_config(path, data_dir, plugin_dir, repo, rate_limit=0):
    path.write_text(f"""plugin_dir = "{plugin_dir}"
[storage]
data_dir = "{data_dir}"
fsync = "batch"
[server]
port = 0
[[providers]]
name = "disk"
plugin = "local_disk"
[providers.settings]
path = "{repo}"
rate_limit = {rate_limit}
""")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", required=True, help="CMake build directory (Release)")
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", default=os.environ.get("BKP_BENCH_DIR", "/tmp/bkp-bench"))
    ap.add_argument("--out", default="bench/results/backup.json")
    ap.add_argument("--load-seconds", type=int, default=8)
    args = ap.parse_args()

    build = Path(args.build).resolve()
    hostd = build / "host_stub" / "hostd"
    hostctl = build / "host_stub" / "hostctl"
    dataset = build / "bench" / "bkp_dataset"
    plugins = build / "plugins"
    work = Path(args.work) / "backup-bench"
    base = Path(args.work) / f"dataset-{args.mib}"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(dataset), "--dir", str(base), "--mib", str(args.mib)], check=True,
                   stdout=subprocess.DEVNULL)
    data_bytes = dir_bytes(base)

    samples = {k: [] for k in ["cp", "tar_lz4", "full", "second", "restore", "untar"]}
    rss = {k: [] for k in samples}
    ratio = []
    second_bytes_read = []
    for rep in range(args.reps):
        scratch = work / f"rep{rep}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        data = scratch / "data"
        shutil.copytree(base, data)  # the second backup mutates it
        repo = scratch / "repo"
        cfg = scratch / "host.toml"
        write_config(cfg, data, plugins, repo)

        r = measured(["cp", "-r", str(data), str(scratch / "cp-copy")])
        samples["cp"].append(r["wall_s"]); rss["cp"].append(r["max_rss_mib"])
        r = measured(f"tar -C {data.parent} -cf - {data.name} | lz4 -1 -q > {scratch}/data.tar.lz4")
        samples["tar_lz4"].append(r["wall_s"]); rss["tar_lz4"].append(r["max_rss_mib"])
        # Backups are timed through a running host, as operators take them:
        # the host's start-up (which re-verifies closed segments) is not part
        # of a backup.
        with Host(hostd, cfg, scratch) as host:
            r = measured([str(hostctl), "--port", host.port, "backup", "create", "--provider",
                          "disk", "--no-progress"], cold=True)
            rss["full"].append(host.max_rss_mib())
        samples["full"].append(r["wall_s"])
        ratio.append(data_bytes / dir_bytes(repo / "objects"))
        full_id = newest_backup(repo)

        subprocess.run([str(dataset), "--dir", str(data), "--mutate", "1"], check=True,
                       stdout=subprocess.DEVNULL)
        with Host(hostd, cfg, scratch) as host:
            r = measured([str(hostctl), "--port", host.port, "backup", "create", "--provider",
                          "disk", "--no-progress"], cold=True)
            rss["second"].append(host.max_rss_mib())
        samples["second"].append(r["wall_s"])

        target = scratch / "restored"
        r = measured([str(hostd), "restore", "--config", str(cfg), "--provider", "disk",
                      "--backup", full_id, "--data-dir", str(target)])
        samples["restore"].append(r["wall_s"]); rss["restore"].append(r["max_rss_mib"])
        (scratch / "untar").mkdir()
        r = measured(f"lz4 -dc -q {scratch}/data.tar.lz4 | tar -C {scratch}/untar -xf -")
        samples["untar"].append(r["wall_s"]); rss["untar"].append(r["max_rss_mib"])
        shutil.rmtree(scratch / "cp-copy", ignore_errors=True)

    mib = data_bytes / (1 << 20)
    tput = {k: [mib / s for s in v] for k, v in samples.items()}
    results = {
        "dataset_mib": mib,
        "reps": args.reps,
        "cold_cache": drop_caches(),
        "throughput_mib_s": {k: stats(v) for k, v in tput.items()},
        "peak_rss_mib": {k: stats(v) for k, v in rss.items()},
        "compression_ratio": stats(ratio),
        "ratios": {
            "full_vs_cp": stats([f / c for f, c in zip(tput["full"], tput["cp"])]),
            "full_vs_tar_lz4": stats([f / t for f, t in zip(tput["full"], tput["tar_lz4"])]),
            "second_time_vs_full": stats([s / f for s, f in zip(samples["second"], samples["full"])]),
            "restore_vs_untar": stats([r / u for r, u in zip(tput["restore"], tput["untar"])]),
        },
    }
    results["append_during_backup"] = append_load(args, hostd, hostctl, plugins, base, work)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def append_load(args, hostd, hostctl, plugins, base, work):
    """Foreground append throughput: idle, during a hot backup, and during a
    rate-limited one (50 MiB/s)."""
    out = {}
    for label, rate_limit, with_backup in [("idle", 0, False), ("hot_backup", 0, True),
                                           ("hot_backup_rate_limited", 50 << 20, True)]:
        scratch = work / f"load-{label}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        shutil.copytree(base, scratch / "data")
        cfg = scratch / "host.toml"
        write_config(cfg, scratch / "data", plugins, scratch / "repo", rate_limit)
        with Host(hostd, cfg, scratch) as host:
            load = subprocess.Popen([str(hostctl), "--port", host.port, "load", "--context",
                                     "default", "--rate", "1000000", "--batch", "100",
                                     "--duration", str(args.load_seconds)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if with_backup:
                subprocess.run([str(hostctl), "--port", host.port, "backup", "create",
                                "--provider", "disk", "--no-progress"], check=True,
                               stdout=subprocess.DEVNULL)
            out[label] = parse_load(load.communicate()[0].decode())
    idle = out["idle"]["events_per_s"]
    for label in out:
        out[label]["vs_idle"] = out[label]["events_per_s"] / idle if idle else 0
    return out


def parse_load(text):
    """'load: N events (X MB payload) ... A events/s, B MB/s; ack latency p50 .. ms, p99 .. ms'"""
    import re
    m = re.search(r"([\d.]+) events/s, ([\d.]+) MB/s; ack latency p50 ([\d.]+) ms, p99 ([\d.]+) ms",
                  text)
    if not m:
        sys.exit(f"bench: cannot parse hostctl load output:\n{text}")
    return {"events_per_s": float(m.group(1)), "mb_per_s": float(m.group(2)),
            "p50_ms": float(m.group(3)), "p99_ms": float(m.group(4))}


def print_table(r):
    def cell(s, fmt="{:.0f}"):
        return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"
    t = r["throughput_mib_s"]
    print(f"\nDataset {r['dataset_mib']:.0f} MiB, {r['reps']} reps, "
          f"{'cold' if r['cold_cache'] else 'warm'} page cache. Median (min-max).\n")
    print("| scenario | MiB/s | peak RSS MiB |")
    print("|---|---|---|")
    for k, name in [("full", "local_disk full backup"), ("cp", "cp -r"), ("tar_lz4", "tar | lz4 -1"),
                    ("second", "local_disk after +1 %"), ("restore", "local_disk restore"),
                    ("untar", "lz4 -dc | tar -x")]:
        print(f"| {name} | {cell(t[k])} | {cell(r['peak_rss_mib'][k])} |")
    print("\n| ratio | value | target |")
    print("|---|---|---|")
    targets = {"full_vs_cp": ">= 0.7", "full_vs_tar_lz4": ">= 2.5", "second_time_vs_full": "<= 0.05",
               "restore_vs_untar": ">= 2"}
    for k, v in r["ratios"].items():
        print(f"| {k} | {cell(v, '{:.2f}')} | {targets[k]} |")
    print(f"| compression ratio | {cell(r['compression_ratio'], '{:.2f}')} | |")
    print("\n| append load | events/s | p99 ms | vs idle |")
    print("|---|---|---|---|")
    for k, v in r["append_during_backup"].items():
        print(f"| {k} | {v['events_per_s']:.0f} | {v['p99_ms']:.1f} | {v['vs_idle']:.2f} |")


if __name__ == "__main__":
    main()
