#!/usr/bin/env python3
"""The benchmark harness: every performance figure of the project in one run,
merged into one results file and rendered as docs/BENCHMARKS.md with a chart.
bench/run.sh installs the tools, builds, and calls this; run it directly only
on a build you made yourself.

For each dataset size it runs every suite script present in bench/ with the
common arguments (benchlib.suite_args):
  backup_bench.py    our providers beside cp, tar, restic and borg; append
                     load during a backup; the ABI cost
  archive_bench.py   wal_archive's continuous archive (recovery point, append
                     throughput archiving on and off), when present
  remote_bench.py    the remote provider against Ceph's RADOS Gateway (a
                     real S3 server, on this machine) beside `aws s3 cp
                     --recursive` and restic with its repository in the
                     same bucket
  append_impact_bench.py  appends during a hot backup: pacing auto, off and
                     manual rate limits, against the backup's time
then, once, scale_bench.py (many contexts and tens of thousands of small
segments: cost against file count and against changed bytes; --skip scale
leaves it out), and the engine's micro-benchmarks (host_bench: object codec vs the
raw LZ4F + XXH3 calls and vs the block-API floor, manifest encode/decode of
10,000 files). A suite that
fails stops the run: its error names the command.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import report
from benchlib import Build, checked, fail, ratio, stats, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run per dataset size, in this order, when the script exists.
SUITES = ["backup_bench.py", "archive_bench.py", "remote_bench.py", "append_impact_bench.py"]
# Arguments a suite gets beyond the common ones. The remote suite runs
# against RGW, not s3rver: a real server that restic can use too (the
# paging figures, --objects, stay a separate run: bench/README.md).
SUITE_ARGS = {"remote_bench.py": ["--server", "rgw", "--objects", "0"]}
# Run once per run, not per size: it makes datasets of its own.
ONCE_SUITES = ["scale_bench.py"]


def first_line(cmd, missing="not installed"):
    """The first line a command prints, or `missing` if it cannot run."""
    try:
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return missing
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0].strip("* ") if r.returncode == 0 and text else missing


def disk_of(path):
    """The file system and device `path` lives on, as far as lsblk knows it
    (a container may not see the device)."""
    source, fstype = checked(["df", "--output=source,fstype", path]).splitlines()[-1].split()
    disk = first_line(["lsblk", "-no", "PKNAME", source], "") or Path(source).name
    info = first_line(["lsblk", "-dno", "MODEL,ROTA,SIZE", f"/dev/{disk}"], "").split()
    if len(info) < 2:
        return f"{source} ({fstype}); device details not available"
    kind = "rotational" if info[-2] == "1" else "non-rotational"
    return (f"{source} ({fstype}) on {disk}: {' '.join(info[:-2]) or 'model not reported'}, "
            f"{info[-1]}, {kind} as the kernel reports it")


def machine(build, work):
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    os_name = "Linux"
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    cache = (build.dir / "CMakeCache.txt").read_text().splitlines()

    def cache_value(key):
        return next((line.split("=", 1)[1] for line in cache if line.startswith(key + ":")), "")

    commit = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                        "unknown (not a git checkout)")
    if first_line(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], ""):
        commit += " with uncommitted changes"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kib / 2**20, 1),
        "disk": disk_of(work), "kernel": platform.release(), "os": os_name,
        "load_average_at_start": os.getloadavg(),
        "commit": commit,
        "build": f"{cache_value('CMAKE_BUILD_TYPE')}, "
                 f"{first_line([cache_value('CMAKE_CXX_COMPILER') or 'c++', '--version'])}",
        "tools": {name: first_line(cmd) for name, cmd in [
            ("cp", ["cp", "--version"]), ("tar", ["tar", "--version"]), ("lz4", ["lz4", "-V"]),
            ("zstd", ["zstd", "-V"]), ("restic", ["restic", "version"]),
            ("borg", ["borg", "--version"]), ("aws", ["aws", "--version"]),
            ("gnuplot", ["gnuplot", "--version"])]},
    }


def micro(build, reps):
    """host_bench's engine micro-benchmarks, in the results shape."""
    out = checked([build.host_bench, "--benchmark_filter=BM_(ObjectCodec|Manifest)",
                   "--benchmark_format=json", f"--benchmark_repetitions={reps}"])
    runs = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("error_occurred"):
            fail(f"{b['name']}: {b.get('error_message')}")
        if b.get("run_type", "iteration") == "iteration":
            runs.setdefault(b["run_name"].split("/")[0], []).append(b)
    codec = runs["BM_ObjectCodec"]
    entry = ratio("object codec (LZ4 frame, XXH3-64, XXH3-128) time / raw LZ4F + XXH3-64 calls'",
                  [b["pipeline_vs_raw_time"] for b in codec], "<= 1.10", "issue 7")
    figures = {
        "object_codec": {k: stats([b[k] for b in codec])
                         for k in ["pipeline_MiBps", "raw_MiBps", "floor_MiBps",
                                   "pipeline_vs_floor_time", "lz4_ratio"]},
        "manifest": {name.removeprefix("BM_Manifest").lower(): {
            "ms_per_call": stats([b["real_time"] for b in bs]),
            "files": bs[0]["files"], "json_mib": bs[0]["json_MiB"]}
            for name, bs in runs.items() if name.startswith("BM_Manifest")},
    }
    return {"suite": "micro", "dataset_mib": None, "reps": reps, "cold_cache": False,
            "runs": [], "ratios": [entry], "figures": figures}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="configured and built CMake build directory")
    ap.add_argument("--sizes", default="256,1024",
                    help="dataset sizes in MiB, comma-separated (default %(default)s; "
                         "add 4096 for the 4 GiB run)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 256 MiB, one repetition, every scenario; the report "
                         "goes beside the results, docs/ is left alone")
    ap.add_argument("--skip", default="", help="passed to backup_bench.py --skip (recorded)")
    ap.add_argument("--work", default=os.environ.get("BKP_BENCH_DIR", "/var/tmp/bkp-bench"),
                    help="scratch directory on the disk to measure (default %(default)s)")
    ap.add_argument("--results", help="directory of results.json (default bench/results, "
                                      "or BUILD/bench-quick with --quick)")
    ap.add_argument("--no-docs", action="store_true",
                    help="write BENCHMARKS.md and the chart beside results.json, not in docs/")
    ap.add_argument("--note", default="", help="a sentence for the report's reader, e.g. "
                                               "that the machine was busy")
    ap.add_argument("--command", default="", help="the command line to print in the report")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps = "256", 1
    sizes = [int(s) for s in args.sizes.split(",")]
    build = Build(args.build)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    results_dir = Path(args.results or (build.dir / "bench-quick" if args.quick
                                        else HERE / "results")).resolve()
    docs_dir = results_dir if args.quick or args.no_docs else ROOT / "docs"

    started = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc)
    merged = {"generated": now.isoformat(timespec="seconds"),
              "command": args.command or shlex.join(sys.argv), "quick": args.quick,
              "note": args.note, "sizes_mib": sizes, "reps": args.reps,
              "skipped": [s for s in args.skip.split(",") if s],
              "machine": machine(build, work), "suites_missing": [], "suites": []}
    for mib in sizes:
        for script in SUITES:
            if not (HERE / script).exists():
                if script not in merged["suites_missing"]:
                    merged["suites_missing"].append(script)
                continue
            out = results_dir / "suites" / f"{Path(script).stem}-{mib}.json"
            cmd = [sys.executable, HERE / script, "--build", build.dir, "--work", work,
                   "--out", out, "--mib", mib, "--reps", args.reps]
            cmd += ["--quick"] if args.quick else []
            cmd += SUITE_ARGS.get(script, [])
            skip = ",".join(s for s in args.skip.split(",") if s and s != "scale")
            cmd += ["--skip", skip] if script == "backup_bench.py" and skip else []
            t0 = time.monotonic()
            code = subprocess.run([str(c) for c in cmd]).returncode
            if code != 0:
                fail(f"suite {script} at {mib} MiB failed (exit {code}); its error is above")
            result = json.loads(out.read_text())
            result.update(size_mib=mib, suite_wall_s=time.monotonic() - t0)
            merged["suites"].append(result)
            print(f"[harness] {script} at {mib} MiB took {result['suite_wall_s']:.0f} s",
                  flush=True)
    for script in ONCE_SUITES:
        if script.removesuffix("_bench.py") in merged["skipped"]:
            continue
        out = results_dir / "suites" / f"{Path(script).stem}.json"
        cmd = [sys.executable, HERE / script, "--build", build.dir, "--work", work, "--out", out,
               "--reps", args.reps] + (["--quick"] if args.quick else [])
        t0 = time.monotonic()
        code = subprocess.run([str(c) for c in cmd]).returncode
        if code != 0:
            fail(f"suite {script} failed (exit {code}); its error is above")
        result = json.loads(out.read_text())
        result.update(size_mib=None, suite_wall_s=time.monotonic() - t0)
        merged["suites"].append(result)
        print(f"[harness] {script} took {result['suite_wall_s']:.0f} s", flush=True)
    merged["suites"].append(micro(build, args.reps))
    merged["machine"]["load_average_at_end"] = os.getloadavg()
    merged["wall_s"] = time.monotonic() - started

    write_results(results_dir / "results.json", merged)
    written = report.write(merged, docs_dir)
    print(f"[harness] done in {merged['wall_s'] / 60:.1f} min: {results_dir / 'results.json'}, "
          f"{', '.join(str(p) for p in written)}")
    unmet = [r["name"] for s in merged["suites"] for r in s.get("ratios", [])
             if r["met"] is False]
    print(f"[harness] {len(unmet)} target(s) not met" + "".join(f"\n  - {n}" for n in unmet))


if __name__ == "__main__":
    main()
