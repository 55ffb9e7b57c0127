#!/usr/bin/env python3
"""Remote benchmark: the remote provider (S3) beside the AWS CLI.

On one data directory made by bkp_dataset, against one local s3rver (the
server the tests use, from tests/plugins/s3rver; run scripts/setup.sh), in
one run, interleaved per repetition:

  full backup   hostctl backup create (remote provider, through a running
                hostd)               vs  aws s3 cp --recursive DATA s3://...
  restore       hostd restore        vs  aws s3 cp --recursive s3://... DIR

Wall time, CPU time and peak RSS come from the OS (benchlib.measured; for
backups, which run inside hostd, the host's VmHWM and CPU). Page caches are dropped
before each timed run where permitted. Targets: backup throughput >= 1x the
AWS CLI's upload; backup peak RSS <= 64 MiB + part_size x parallel_parts.
Both upload to the same server, so the comparison is of the clients; an
s3rver on the same machine is itself slow, so absolute MiB/s say little.

Usage: bench/remote_bench.py --build BUILD --work DIR --out FILE.json [--mib N] [--reps R] [--quick]
  --quick: one repetition of at most 64 MiB, for a smoke run.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

from benchlib import (Build, Host, cell, checked, dir_bytes, drop_caches, ensure_dataset, fail,
                      measured, ratio, run_entry, suite_args, write_results)

ROOT = Path(__file__).resolve().parent.parent
S3RVER_DIR = ROOT / "tests" / "plugins" / "s3rver"
BUCKET = "backups"
PART_SIZE = 16 << 20
PARALLEL_PARTS = 4


class S3rver:
    """s3rver on a free loopback port for the duration of a with-block (it
    exits when its stdin closes)."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def __enter__(self):
        if not (S3RVER_DIR / "node_modules" / "s3rver").exists():
            fail(f"s3rver is not installed in {S3RVER_DIR}: run scripts/setup.sh")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(["node", str(S3RVER_DIR / "launch.js"), str(self.directory),
                                      BUCKET], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line:
            fail("s3rver did not start")
        self.endpoint = f"http://127.0.0.1:{json.loads(line)['port']}"
        return self

    def drop(self, prefix):
        """Deletes everything under a key prefix, straight from its store."""
        shutil.rmtree(self.directory / BUCKET / prefix, ignore_errors=True)

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()


def write_config(path, data_dir, plugin_dir, endpoint, prefix):
    path.write_text(f"""plugin_dir = "{plugin_dir}"
[storage]
data_dir = "{data_dir}"
fsync = "batch"
[server]
port = 0
[[providers]]
name = "s3"
plugin = "remote"
[providers.settings]
endpoint = "{endpoint}"
bucket = "{BUCKET}"
prefix = "{prefix}"
path_style = true
part_size = {PART_SIZE}
parallel_parts = {PARALLEL_PARTS}
""")


def newest_backup(hostd, cfg):
    out = checked([hostd, "backup", "list", "--config", cfg, "--provider", "s3", "--json"])
    return sorted(b["id"] for b in json.loads(out)["backups"])[-1]


def main():
    args = suite_args(__doc__).parse_args()
    if args.quick:
        args.reps, args.mib = 1, min(args.mib, 64)
    if not shutil.which("aws"):
        fail("the AWS CLI ('aws', Debian's awscli) is missing: run scripts/setup.sh")
    build = Build(args.build)
    work = Path(args.work).resolve() / "remote-bench"
    work.mkdir(parents=True, exist_ok=True)
    base = ensure_dataset(build, args.work, args.mib)
    data_mib = dir_bytes(base) / (1 << 20)
    # s3rver takes any key; hostd and the AWS CLI read these.
    os.environ.update({"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})

    samples = {k: [] for k in ["backup", "aws_upload", "restore", "aws_download"]}
    backup_rss = []
    with S3rver(work / "s3") as server:
        aws = ["aws", "--endpoint-url", server.endpoint, "s3", "cp", "--recursive",
               "--only-show-errors"]
        for rep in range(args.reps):
            scratch = work / f"rep{rep}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            prefix = f"remote-rep{rep}"
            cfg = scratch / "host.toml"
            write_config(cfg, base, build.plugins, server.endpoint, prefix)

            samples["aws_upload"].append(
                measured(aws + [str(base), f"s3://{BUCKET}/awscli-rep{rep}/"]))
            # Timed through a running host, as operators take backups: the
            # host's start-up is not part of a backup.
            with Host(build.hostd, cfg, scratch) as host:
                r = host.measured([build.hostctl, "--port", host.port, "backup", "create",
                                   "--provider", "s3", "--no-progress"])
            samples["backup"].append(r)
            backup_rss.append(r["max_rss_mib"])
            backup_id = newest_backup(build.hostd, cfg)

            samples["restore"].append(
                measured([str(build.hostd), "restore", "--config", str(cfg), "--provider", "s3",
                          "--backup", backup_id, "--data-dir", str(scratch / "restored")]))
            samples["aws_download"].append(
                measured(aws + [f"s3://{BUCKET}/awscli-rep{rep}/", str(scratch / "downloaded")]))
            server.drop(prefix)
            server.drop(f"awscli-rep{rep}")
            shutil.rmtree(scratch, ignore_errors=True)

    tput = {k: [data_mib / s["wall_s"] for s in v] for k, v in samples.items()}
    rss_target = 64 + PART_SIZE * PARALLEL_PARTS / (1 << 20)
    results = {
        "suite": "remote",
        "dataset_mib": data_mib,
        "reps": args.reps,
        "cold_cache": drop_caches(),
        "runs": [
            run_entry("full backup", "remote provider (hostctl backup create)", samples["backup"],
                      data_mib),
            run_entry("full backup", "aws s3 cp --recursive (upload)", samples["aws_upload"],
                      data_mib),
            run_entry("restore", "remote provider (hostd restore)", samples["restore"], data_mib),
            run_entry("restore", "aws s3 cp --recursive (download)", samples["aws_download"],
                      data_mib),
        ],
        "ratios": [
            ratio("backup_vs_aws_upload", [b / a for b, a in zip(tput["backup"],
                                                                  tput["aws_upload"])], ">= 1"),
            ratio("backup_peak_rss_mib", backup_rss, f"<= {rss_target:.0f}"),
            ratio("restore_vs_aws_download", [r / a for r, a in zip(tput["restore"],
                                                                     tput["aws_download"])],
                  ">= 1"),
        ],
        "figures": {"part_size": PART_SIZE, "parallel_parts": PARALLEL_PARTS},
    }
    write_results(args.out, results)
    print_table(results)


def print_table(r):
    print(f"\nDataset {r['dataset_mib']:.0f} MiB, {r['reps']} reps, "
          f"{'cold' if r['cold_cache'] else 'warm'} page cache. Median (min-max).\n")
    print("| scenario | tool | MiB/s | wall s | CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for run in r["runs"]:
        print(f"| {run['scenario']} | {run['tool']} | {cell(run['mib_per_s'])} | "
              f"{cell(run['wall_s'])} | {cell(run['cpu_s'])} | {cell(run['max_rss_mib'])} |")
    print("\n| ratio | value | target | met |")
    print("|---|---|---|---|")
    for x in r["ratios"]:
        print(f"| {x['name']} | {cell(x['value'], '{:.2f}')} | {x['target']} | {x['met']} |")


if __name__ == "__main__":
    main()
