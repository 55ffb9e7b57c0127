#!/usr/bin/env python3
"""Continuous archiving benchmark: the recovery point it gives, and what it
costs the foreground.

In one run, interleaved per repetition, each on a fresh data directory and
repository, through a running hostd with the wal_archive provider:

  append load       hostctl load at full speed (batches of 100, fsync
                    "batch") with archiving off and on (archive = true,
                    archive_timeout = 1), which first alternating per
                    repetition: events/s, ack p99, host CPU.
                    Ratio: throughput on / off, target >= 0.9.
  recovery point    a steady write load from this script (appends of 10
                    events, 100 a second) with archiving on and
                    archive_timeout = 1 s, while GET /v1/archive is polled
                    every 20 ms: for each append, the time from its
                    acknowledgement to the first poll that shows its last
                    event and its log entry in the archive. Median and p99
                    (target p99 <= 2 s).

Figures are medians over --reps with min-max. Results: JSON (--out) in the
shape of benchlib (suite "archive") and a markdown table on stdout. The
scenarios run on a fresh host with their own load, so --mib (which the
harness passes every suite) does not change them; it is recorded as given.

Usage: bench/archive_bench.py --build BUILD_DIR --work DIR --out FILE.json [--quick]
"""
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # importing the scripts beside must leave no __pycache__
from backup_bench import parse_load  # noqa: E402
from benchlib import Build, Host, cell, fail, ratio, stats, suite_args, write_results  # noqa: E402

CONTEXT = "bench"
POLL_INTERVAL_S = 0.02
ARCHIVE_TIMEOUT_S = 1


def write_config(path, data_dir, plugin_dir, repo, archive, segment_size):
    archive_keys = f"archive = true\narchive_timeout = {ARCHIVE_TIMEOUT_S}\n" if archive else ""
    path.write_text(f"""plugin_dir = "{plugin_dir}"
[storage]
data_dir = "{data_dir}"
fsync = "batch"
event_segment_size = "{segment_size}"
log_segment_size = "{segment_size}"
[server]
port = 0
[[providers]]
name = "pitr"
plugin = "wal_archive"
{archive_keys}[providers.settings]
path = "{repo}"
""")


def fresh(work, name):
    scratch = work / name
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return scratch


def append_load(args, work, rep, archive):
    """hostctl load at full speed for --load-seconds; returns its figures."""
    label = "on" if archive else "off"
    scratch = fresh(work, f"load-{label}-{rep}")
    cfg = scratch / "host.toml"
    write_config(cfg, scratch / "data", args.build.plugins, scratch / "repo", archive, "64MiB")
    with Host(args.build.hostd, cfg, scratch, log=scratch / "hostd.log") as host:
        cpu_before = host.cpu_s()
        start = time.monotonic()
        out = subprocess.run([str(args.build.hostctl), "--port", host.port, "load", "--context",
                              CONTEXT, "--rate", "1000000", "--batch", "100", "--duration",
                              str(args.load_seconds)], capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"hostctl load with archiving {label} failed ({out.returncode}): {out.stderr}")
        figures = parse_load(out.stdout)
        figures["wall_s"] = time.monotonic() - start
        figures["host_cpu_s"] = host.cpu_s() - cpu_before
        figures["max_rss_mib"] = host.max_rss_mib()
    shutil.rmtree(scratch, ignore_errors=True)
    return figures


class ArchivePoller(threading.Thread):
    """Polls GET /v1/archive and keeps, for each change, when this script
    first saw the archive reach (events next, log next) of CONTEXT."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.seen = []  # (monotonic time, events next, log next), growing
        self.stopping = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", int(self.port), timeout=10)
        last = None
        while not self.stopping.is_set():
            conn.request("GET", "/v1/archive")
            reply = json.loads(conn.getresponse().read())
            now = time.monotonic()
            ends = {s["role"]: s["next"] for a in reply["archivers"] for s in a["streams"]
                    if s["context"] == CONTEXT}
            reach = (ends.get("events", 0), ends.get("log", 0))
            if reach != last:
                self.seen.append((now,) + reach)
                last = reach
            time.sleep(POLL_INTERVAL_S)
        conn.close()


def steady_writes(port, seconds, rate, batch, payload):
    """Appends `batch` events `rate` times a second for `seconds`; returns
    (ack time, last token, log index) per append."""
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    body = json.dumps({"events": [payload] * batch})
    acks = []
    start = time.monotonic()
    for i in range(int(seconds * rate)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        conn.request("POST", f"/v1/contexts/{CONTEXT}/events", body,
                     {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = json.loads(reply.read())
        if reply.status != 200:
            fail(f"append failed ({reply.status}): {data}")
        acks.append((time.monotonic(), data["last_token"], data["log_index"]))
    conn.close()
    return acks


def recovery_point(args, work, rep):
    """Seconds from each append's acknowledgement to its presence in the
    archive, under a steady load with archive_timeout = 1 s."""
    scratch = fresh(work, f"rpo-{rep}")
    cfg = scratch / "host.toml"
    # Segments that close now and then during the run, as well as tails.
    write_config(cfg, scratch / "data", args.build.plugins, scratch / "repo", True, "4MiB")
    payload = json.dumps({"type": "OrderPlaced", "note": "x" * 180})
    with Host(args.build.hostd, cfg, scratch, log=scratch / "hostd.log") as host:
        poller = ArchivePoller(host.port)
        poller.start()
        cpu_before = host.cpu_s()
        start = time.monotonic()
        acks = steady_writes(host.port, args.rpo_seconds, 100, 10, payload)
        wall = time.monotonic() - start
        cpu = host.cpu_s() - cpu_before
        rss = host.max_rss_mib()
        last_token, last_index = acks[-1][1], acks[-1][2]
        deadline = time.monotonic() + 10 * ARCHIVE_TIMEOUT_S
        while time.monotonic() < deadline:
            if poller.seen and poller.seen[-1][1] > last_token and poller.seen[-1][2] > last_index:
                break
            time.sleep(POLL_INTERVAL_S)
        poller.stopping.set()
        poller.join()
    shutil.rmtree(scratch, ignore_errors=True)

    delays, unseen, j = [], 0, 0
    seen = poller.seen
    for ack_time, token, index in acks:  # acks and reaches both only grow
        while j < len(seen) and not (seen[j][1] > token and seen[j][2] > index):
            j += 1
        if j == len(seen):
            unseen += 1
            continue
        delays.append(max(0.0, seen[j][0] - ack_time))
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))] if delays else float("inf")
    return {"median_s": statistics.median(delays) if delays else float("inf"), "p99_s": p99,
            "max_s": delays[-1] if delays else float("inf"), "samples": len(delays),
            "unseen": unseen, "wall_s": wall, "host_cpu_s": cpu, "max_rss_mib": rss}


def run_entry(scenario, tool, samples):
    """A runs entry: the window's wall time, the host's CPU time and peak
    RSS (archiving runs inside it)."""
    return {"scenario": scenario, "tool": tool,
            "wall_s": stats([s["wall_s"] for s in samples]),
            "cpu_s": stats([s["host_cpu_s"] for s in samples]),
            "max_rss_mib": stats([s["max_rss_mib"] for s in samples])}


def load_entry(tool, samples):
    entry = run_entry("append load", tool, samples)
    entry.update(mib_per_s=stats([s["mb_per_s"] * 1e6 / (1 << 20) for s in samples]),
                 events_per_s=stats([s["events_per_s"] for s in samples]),
                 ack_p99_ms=stats([s["p99_ms"] for s in samples]))
    return entry


def main():
    args = suite_args(__doc__).parse_args()
    args.build = Build(args.build)
    args.load_seconds = 3 if args.quick else 10
    args.rpo_seconds = 6 if args.quick else 30
    reps = 1 if args.quick else args.reps
    if not (args.build.plugins / "bkp_wal_archive.so").exists():
        fail(f"{args.build.plugins / 'bkp_wal_archive.so'} is missing: build the wal_archive plugin")
    work = Path(args.work).resolve() / "archive-bench"
    work.mkdir(parents=True, exist_ok=True)

    off, on, rpo = [], [], []
    for rep in range(reps):
        # Which goes first alternates, so neither side always gets the
        # warmer machine.
        for archive in ([False, True] if rep % 2 == 0 else [True, False]):
            (on if archive else off).append(append_load(args, work, rep, archive))
        rpo.append(recovery_point(args, work, rep))

    rpo_entry = run_entry("recovery point", f"archive_timeout {ARCHIVE_TIMEOUT_S} s", rpo)
    rpo_entry.update({k: stats([r[k] for r in rpo]) for k in ("median_s", "p99_s", "max_s")})
    unseen = sum(r["unseen"] for r in rpo)
    throughput = ratio("append throughput, archiving on / off",
                       [a["events_per_s"] / b["events_per_s"] for a, b in zip(on, off)], ">= 0.9",
                       source="issue 5")
    recovery = ratio("recovery point p99 (s), archive_timeout 1 s", [r["p99_s"] for r in rpo],
                     "<= 2", source="issue 5")
    if unseen > 0:
        recovery["met"] = False  # an append never seen in the archive has no recovery point
    results = {
        "suite": "archive",
        "dataset_mib": args.mib,
        "reps": reps,
        "cold_cache": False,
        "runs": [load_entry("archive off", off),
                 load_entry(f"archive on (archive_timeout {ARCHIVE_TIMEOUT_S} s)", on), rpo_entry],
        "ratios": [throughput, recovery],
        "figures": {
            "recovery_point_s": {k: rpo_entry[k] for k in ("median_s", "p99_s", "max_s")},
            "recovery_point_samples": sum(r["samples"] for r in rpo),
            "recovery_point_unseen": unseen,
            "poll_interval_s": POLL_INTERVAL_S,
            "append_events_per_s": {"off": load_entry("off", off)["events_per_s"],
                                    "on": load_entry("on", on)["events_per_s"]},
            "load_seconds": args.load_seconds,
            "rpo_seconds": args.rpo_seconds,
            "quick": args.quick,
        },
    }
    write_results(args.out, results)
    print_table(results)


def print_table(r):
    print(f"\nArchive benchmark, {r['reps']} rep(s){' (quick)' if r['figures']['quick'] else ''}. "
          "Median (min-max).\n")
    print("| append load | events/s | ack p99 ms | host CPU s |")
    print("|---|---|---|---|")
    for run in r["runs"][:2]:
        print(f"| {run['tool']} | {cell(run['events_per_s'], '{:.0f}')} | "
              f"{cell(run['ack_p99_ms'], '{:.1f}')} | {cell(run['cpu_s'], '{:.1f}')} |")
    rp = r["runs"][2]
    print("\n| recovery point | median s | p99 s | max s |")
    print("|---|---|---|---|")
    print(f"| {rp['tool']} | {cell(rp['median_s'], '{:.2f}')} | {cell(rp['p99_s'], '{:.2f}')} | "
          f"{cell(rp['max_s'], '{:.2f}')} |")
    print("\n| ratio | value | target | met |")
    print("|---|---|---|---|")
    for x in r["ratios"]:
        print(f"| {x['name']} | {cell(x['value'], '{:.2f}')} | {x['target']} | {x['met']} |")
    f = r["figures"]
    print(f"\n{f['recovery_point_samples']} appends timed, {f['recovery_point_unseen']} never seen "
          f"in the archive; polled every {f['poll_interval_s'] * 1000:.0f} ms.")


if __name__ == "__main__":
    main()
