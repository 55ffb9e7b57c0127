#!/usr/bin/env python3
"""Remote benchmark: the remote provider (S3) beside the AWS CLI.

On one data directory made by bkp_dataset, against one local S3 server --
s3rver (tests/plugins/s3rver), or with --server rgw Ceph's RADOS Gateway
on a throwaway loopback cluster (tests/plugins/rgw/rgw-launch.sh, objects
in RAM) -- in one run, interleaved per repetition:

  full backup   hostctl backup create (remote provider, through a running
                hostd)               vs  aws s3 cp --recursive DATA s3://...
  restore       hostd restore        vs  aws s3 cp --recursive s3://... DIR

With --server rgw, restic beside them with its repository in the same
bucket (`restic -r s3:ENDPOINT/BUCKET/...`): the backup tool the issue
measures against, over the same server, so the restore ratio compares two
backup clients, not a remote restore against a local disk. (restic cannot
use s3rver: its listing replies do not parse, "Unmarshal: invalid
character".)

Wall time, CPU time and peak RSS come from the OS (benchlib.measured; for
backups, which run inside hostd, the host's VmHWM and CPU). Page caches are dropped
before each timed run where permitted. Targets: backup throughput >= 1x the
AWS CLI's upload and restore >= 1x its download (>= 2x each on RGW, a
server that keeps up with both clients); restore >= 2x restic's over RGW;
backup peak RSS <= 64 MiB + part_size x parallel_parts.
Both upload to the same server, so the comparison is of the clients; an
s3rver on the same machine is itself slow, so absolute MiB/s say little.

With --server rgw it then puts --objects N (default 100000) small objects
into a repository's objects/ (unreferenced, as a crashed writer leaves
them; uploaded by the AWS CLI, not timed) beside two backups, and times
`hostd backup list`, `verify` and `expire --keep-last 1`: expire lists all
of objects/ (pages of 1000 keys) and batch-deletes the N objects.

Usage: bench/remote_bench.py --build BUILD --work DIR --out FILE.json [--mib N] [--reps R] [--quick]
                             [--server s3rver|rgw] [--objects N]
  --quick: one repetition of at most 64 MiB (and 2000 objects), for a smoke run.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

from benchlib import (Build, Host, cell, checked, dir_bytes, drop_caches, ensure_dataset, fail,
                      measured, ratio, run_entry, stats, suite_args, write_results)

ROOT = Path(__file__).resolve().parent.parent
S3RVER_DIR = ROOT / "tests" / "plugins" / "s3rver"
RGW_LAUNCHER = ROOT / "tests" / "plugins" / "rgw" / "rgw-launch.sh"
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

    def credentials(self):
        return {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}

    def drop(self, prefix):
        """Deletes everything under a key prefix, straight from its store."""
        shutil.rmtree(self.directory / BUCKET / prefix, ignore_errors=True)

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()


class Rgw:
    """Ceph's RADOS Gateway on a throwaway one-node cluster (objects in RAM)
    for the duration of a with-block; its launcher stops it when its stdin
    closes. On the host's loopback: hostd, hostctl and the AWS CLI all reach
    it."""

    def __init__(self, directory, memstore_mib):
        self.directory = Path(directory)
        self.memstore_mib = memstore_mib

    def __enter__(self):
        shutil.rmtree(self.directory, ignore_errors=True)
        env = dict(os.environ, BKP_RGW_NETNS="0", BKP_RGW_MEMSTORE_MIB=str(self.memstore_mib))
        self.proc = subprocess.Popen(["bash", str(RGW_LAUNCHER), "run", str(self.directory)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        if not line:
            fail(f"the RADOS Gateway did not start (logs in {self.directory}/log)")
        self.info = json.loads(line)
        if self.info["bucket"] != BUCKET:
            fail(f"the RADOS Gateway's bucket is {self.info['bucket']}, not {BUCKET}")
        self.endpoint = f"http://127.0.0.1:{self.info['http_port']}"
        return self

    def cpu_s(self):
        """CPU seconds the cluster's processes (monitor, OSD, gateway) have
        used so far: the server shares this machine's cores with the client
        it serves, so its cost per run is part of the comparison."""
        total = 0
        for pid in self.info["pids"]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def credentials(self):
        return {"AWS_ACCESS_KEY_ID": self.info["access_key"],
                "AWS_SECRET_ACCESS_KEY": self.info["secret_key"]}

    def drop(self, prefix):
        """Deletes everything under a key prefix (the objects live in RAM)."""
        checked(["aws", "--endpoint-url", self.endpoint, "s3", "rm", "--recursive", "--quiet",
                 f"s3://{BUCKET}/{prefix}/"])

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()


def fill_objects(endpoint, prefix, count, scratch):
    """`count` small objects under PREFIX/objects/ that no backup references,
    uploaded by the AWS CLI with many requests in flight."""
    src = scratch / "filler"
    for i in range(count):
        d = src / f"{i % 256:02x}"
        if i < 256:
            d.mkdir(parents=True)
        (d / f"orphan-{i:07d}").write_bytes(b"x")
    config = scratch / "aws-config"
    config.write_text("[default]\ns3 =\n  max_concurrent_requests = 64\n")
    checked(["aws", "--endpoint-url", endpoint, "s3", "cp", "--recursive", "--only-show-errors",
             str(src), f"s3://{BUCKET}/{prefix}/objects/"],
            env=dict(os.environ, AWS_CONFIG_FILE=str(config)))
    shutil.rmtree(src)


def count_keys(endpoint, prefix):
    """How many keys the bucket holds under `prefix`, as the AWS CLI counts
    them (it follows every page of the listing)."""
    out = checked(["aws", "--endpoint-url", endpoint, "s3api", "list-objects-v2", "--bucket",
                   BUCKET, "--prefix", prefix, "--query", "Contents[].Key", "--output", "text"])
    return len([k for k in out.split() if k != "None"])


def paging_figures(build, server, base, work, count):
    """list, verify and expire timed on a repository with `count` extra
    objects in objects/ (see the docstring)."""
    scratch = work / "paging"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    prefix = "paging"
    cfg = scratch / "host.toml"
    write_config(cfg, base, build.plugins, server.endpoint, prefix)
    hostd = str(build.hostd)
    for _ in range(2):
        checked([hostd, "backup", "create", "--config", str(cfg), "--provider", "s3"])
    fill_objects(server.endpoint, prefix, count, scratch)
    in_bucket = count_keys(server.endpoint, "")
    timed = {
        "list": measured([hostd, "backup", "list", "--config", str(cfg), "--provider", "s3"]),
        "verify": measured([hostd, "backup", "verify", "--config", str(cfg), "--provider", "s3"]),
        "expire": measured([hostd, "backup", "expire", "--config", str(cfg), "--provider", "s3",
                            "--keep-last", "1"]),
    }
    left = count_keys(server.endpoint, f"{prefix}/objects/orphan-")
    if left != 0:
        fail(f"expire left {left} orphaned objects behind")
    server.drop(prefix)
    shutil.rmtree(scratch, ignore_errors=True)
    return {"objects_added": count, "objects_in_bucket": in_bucket, "timed": timed}


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


def with_server_cpu(server, run):
    """run() (a measured() result) with the server's CPU seconds during it,
    where the server can say (RGW)."""
    before = server.cpu_s() if hasattr(server, "cpu_s") else None
    r = run()
    if before is not None:
        r["server_cpu_s"] = server.cpu_s() - before
    return r


def restic_samples(server, rep, data, scratch, samples):
    """restic's full backup and its restore, with the repository under
    restic-repN/ in the same bucket and a cache of its own per repetition."""
    repo = f"s3:{server.endpoint}/{BUCKET}/restic-rep{rep}"
    restic = ["restic", "-r", repo, "--cache-dir", str(scratch / "restic-cache")]
    env = dict(os.environ, RESTIC_PASSWORD="bench")
    checked(restic + ["init"], env=env)
    samples["restic_backup"].append(with_server_cpu(
        server, lambda: measured(restic + ["backup", "--quiet", str(data)], env=env)))
    samples["restic_restore"].append(with_server_cpu(
        server, lambda: measured(
            restic + ["restore", "latest", "--target", str(scratch / "restic-restored")], env=env)))
    server.drop(f"restic-rep{rep}")


def newest_backup(hostd, cfg):
    out = checked([hostd, "backup", "list", "--config", cfg, "--provider", "s3", "--json"])
    return sorted(b["id"] for b in json.loads(out)["backups"])[-1]


def main():
    parser = suite_args(__doc__)
    parser.add_argument("--server", choices=["s3rver", "rgw"], default="s3rver")
    parser.add_argument("--objects", type=int, default=100000)
    args = parser.parse_args()
    if args.quick:
        args.reps, args.mib, args.objects = 1, min(args.mib, 64), min(args.objects, 2000)
    if not shutil.which("aws"):
        fail("the AWS CLI ('aws', Debian's awscli) is missing: run scripts/setup.sh")
    build = Build(args.build)
    work = Path(args.work).resolve() / "remote-bench"
    work.mkdir(parents=True, exist_ok=True)
    base = ensure_dataset(build, args.work, args.mib)
    data_mib = dir_bytes(base) / (1 << 20)
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})

    with_restic = args.server == "rgw"
    if with_restic and not shutil.which("restic"):
        fail("restic is missing: run scripts/setup.sh restic")
    samples = {k: [] for k in ["backup", "aws_upload", "restore", "aws_download"]
               + (["restic_backup", "restic_restore"] if with_restic else [])}
    backup_rss = []
    paging = None
    server_cm = (Rgw(work / "rgw", memstore_mib=max(2048, int(data_mib * 4) + 512))
                 if args.server == "rgw" else S3rver(work / "s3"))
    with server_cm as server:
        # Keys for hostd and the AWS CLI alike (s3rver takes any).
        os.environ.update(server.credentials())
        aws = ["aws", "--endpoint-url", server.endpoint, "s3", "cp", "--recursive",
               "--only-show-errors"]
        for rep in range(args.reps):
            scratch = work / f"rep{rep}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            prefix = f"remote-rep{rep}"
            cfg = scratch / "host.toml"
            write_config(cfg, base, build.plugins, server.endpoint, prefix)

            samples["aws_upload"].append(with_server_cpu(
                server, lambda: measured(aws + [str(base), f"s3://{BUCKET}/awscli-rep{rep}/"])))
            # Timed through a running host, as operators take backups: the
            # host's start-up is not part of a backup.
            with Host(build.hostd, cfg, scratch) as host:
                r = with_server_cpu(server, lambda: host.measured([
                    build.hostctl, "--port", host.port, "backup", "create", "--provider", "s3",
                    "--no-progress"]))
            samples["backup"].append(r)
            backup_rss.append(r["max_rss_mib"])
            backup_id = newest_backup(build.hostd, cfg)

            samples["restore"].append(with_server_cpu(server, lambda: measured(
                [str(build.hostd), "restore", "--config", str(cfg), "--provider", "s3",
                 "--backup", backup_id, "--data-dir", str(scratch / "restored")])))
            samples["aws_download"].append(with_server_cpu(server, lambda: measured(
                aws + [f"s3://{BUCKET}/awscli-rep{rep}/", str(scratch / "downloaded")])))
            if with_restic:
                restic_samples(server, rep, base, scratch, samples)
            server.drop(prefix)
            server.drop(f"awscli-rep{rep}")
            shutil.rmtree(scratch, ignore_errors=True)
        if args.server == "rgw" and args.objects > 0:
            paging = paging_figures(build, server, base, work, args.objects)

    tput = {k: [data_mib / s["wall_s"] for s in v] for k, v in samples.items()}
    rss_target = 64 + PART_SIZE * PARALLEL_PARTS / (1 << 20)
    speed_target = ">= 2" if args.server == "rgw" else ">= 1"
    figures = {"server": args.server, "part_size": PART_SIZE, "parallel_parts": PARALLEL_PARTS}
    for name, runs in samples.items():
        if runs and "server_cpu_s" in runs[0]:
            figures[f"server_cpu_s_{name}"] = stats([r["server_cpu_s"] for r in runs])
    if paging:
        figures["paging"] = paging
    results = {
        "suite": "remote" if args.server == "s3rver" else "remote-rgw",
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
        ] + ([
            run_entry("full backup", "restic (S3 repository)", samples["restic_backup"], data_mib),
            run_entry("restore", "restic (S3 repository)", samples["restic_restore"], data_mib),
        ] if with_restic else []),
        "ratios": [
            ratio("remote full backup throughput / aws s3 cp upload's",
                  [b / a for b, a in zip(tput["backup"], tput["aws_upload"])], speed_target),
            ratio("remote peak RSS, MiB (the host's, during its backup)", backup_rss,
                  f"<= {rss_target:.0f}"),
            ratio("remote restore throughput / aws s3 cp download's",
                  [r / a for r, a in zip(tput["restore"], tput["aws_download"])], speed_target),
        ] + ([
            ratio("remote restore throughput / restic's over the same S3 server",
                  [r / a for r, a in zip(tput["restore"], tput["restic_restore"])], ">= 2"),
        ] if with_restic else []),
        "figures": figures,
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
    paging = r["figures"].get("paging")
    if paging:
        print(f"\nWith {paging['objects_added']} more objects in objects/ "
              f"({paging['objects_in_bucket']} in the bucket):\n")
        print("| operation | wall s | CPU s | peak RSS MiB |")
        print("|---|---|---|---|")
        for name, t in paging["timed"].items():
            print(f"| hostd backup {name} | {t['wall_s']:.1f} | {t['cpu_s']:.1f} | "
                  f"{t['max_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
