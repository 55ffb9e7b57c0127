"""Shared pieces of the benchmark scripts: timing a command the way the OS
accounts for it, a running hostd for the duration of a with-block, the
medians-with-range every figure is reported as, and the results shape every
script writes so the harness (bench/harness.py) can merge them.

Every suite script takes the same arguments (suite_args() below):
  --build DIR --work DIR --out FILE [--mib N] [--reps R] [--quick]
and writes one JSON object of this shape to --out:
  {"suite": NAME, "dataset_mib": N, "reps": R, "cold_cache": bool,
   "runs":   [{"scenario", "tool", "wall_s", "cpu_s", "max_rss_mib", "mib_per_s"}],
   "ratios": [{"name", "value", "target", "met", "source"?}],
   "figures": {...free-form extras...}}
where every timing is a stats() dict: {"median", "min", "max"}, and a
ratio's target is a comparison ("<=", ">=", "<" or ">") and a bound, e.g.
">= 2.5". The harness exits non-zero when a suite does, so a suite stops at
the first failed command (measured() does that) rather than report a figure
from a failed run.

Python 3 standard library only: the harness runs on a fresh Debian machine.
"""
import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# GNU time (Debian package "time"): the only honest peak RSS of a command
# started from Python. A child forked from this interpreter starts with the
# interpreter's resident pages, and Linux keeps that high-water mark through
# exec, so wait4 on it would report at least Python's ~16 MiB for `cp`. GNU
# time is small, and the command it forks reports its own peak.
GNU_TIME = "/usr/bin/time"


def fail(message):
    """Stops the script with a message naming what failed (exit status 1)."""
    sys.exit(f"bench: {message}")


def drop_caches():
    """Drops the page cache so the next run reads from disk; False where not
    permitted (not root), and the caller reports the run as warm."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def measured(cmd, cold=True, env=None, cwd=None):
    """Runs cmd (a list, or a str for a shell pipeline) and returns its wall
    time, CPU time and peak RSS, and "cmd" as a shell would read it. CPU
    time is wait4's, which includes the children the command waited for (the
    stages of a pipeline); peak RSS is that of the largest single process
    (GNU time's %M). A failing command ends the benchmark with its stderr: a
    figure from a failed run would be a lie."""
    if not os.access(GNU_TIME, os.X_OK):
        fail(f"{GNU_TIME} is missing: install the Debian package 'time' (bench/run.sh does)")
    dropped = drop_caches() if cold else False
    argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(c) for c in cmd]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss:
        start = time.monotonic()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", rss.name, *argv], stdout=out,
                                stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            fail(f"{cmd!r} failed (exit {code}):\n{err.read().decode(errors='replace')[-2000:]}")
        out.seek(0)
        peak_kib = int(rss.read().split()[-1])
        return {"wall_s": wall, "cold": dropped, "cpu_s": usage.ru_utime + usage.ru_stime,
                "max_rss_mib": peak_kib / 1024, "stdout": out.read().decode(errors="replace"),
                "cmd": cmd if isinstance(cmd, str) else shlex.join(argv)}


def checked(cmd, **kwargs):
    """Runs an untimed step (set-up, clean-up); stops with its stderr if it
    fails. Returns its stdout."""
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if r.returncode != 0:
        fail(f"{' '.join(str(c) for c in cmd)} failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout


class Build:
    """The binaries of a CMake build directory (Release, with bench on)."""

    def __init__(self, build_dir):
        d = Path(build_dir).resolve()
        self.dir = d
        self.hostd = d / "host_stub" / "hostd"
        self.hostctl = d / "host_stub" / "hostctl"
        self.dataset = d / "bench" / "bkp_dataset"
        self.host_bench = d / "bench" / "host_bench"
        self.plugins = d / "plugins"
        self.keygen = d / "plugins" / "repo" / "crypto" / "bkp-keygen"
        for path in [self.hostd, self.hostctl, self.dataset, self.host_bench, self.keygen]:
            if not path.exists():
                fail(f"{path} is missing: build {d} with BKP_BUILD_BENCH=ON (bench/run.sh does)")


def ensure_dataset(build, work, mib):
    """The benchmark data directory of `mib` MiB under `work`, built by
    bkp_dataset on first use and reused by every script of a run (a marker
    file records what was built). Returns its path. Read-only: a script that
    writes to it (a host, a mutation) works on a copy."""
    path = Path(work).resolve() / f"dataset-{mib}"
    checked([build.dataset, "--dir", path, "--mib", mib])
    return path


class Host:
    """`hostd serve --config CFG` for the duration of a with-block; .port is
    its admin port once up. Start-up verifies the data directory, so a large
    one gets two minutes."""

    def __init__(self, hostd, cfg, scratch, log=None):
        self.port_file = Path(scratch) / "port"
        self.cmd = [str(hostd), "serve", "--config", str(cfg), "--port-file", str(self.port_file)]
        self.log = log

    def __enter__(self):
        self.port_file.unlink(missing_ok=True)
        self.stderr = open(self.log, "a+b") if self.log else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.stderr)
        for _ in range(2400):
            if self.port_file.exists() and self.port_file.read_text().endswith("\n"):
                self.port = self.port_file.read_text().strip()
                return self
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                fail(f"hostd exited: {self.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        fail("hostd did not start")

    def max_rss_mib(self):
        """Peak RSS of the host so far (backups run inside it)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def reset_peak_rss(self):
        """Starts max_rss_mib() afresh from the current RSS (Linux's
        clear_refs 5), so it reports the peak of what runs next."""
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5\n")

    def cpu_s(self):
        """CPU time (user + system, all threads) the host has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def measured(self, cmd):
        """measured() for a command that makes the host work (a hostctl
        backup, verify): wall time is the command's, CPU time the host's and
        the command's, peak RSS the host's during the command."""
        dropped = drop_caches()
        self.reset_peak_rss()
        cpu_before = self.cpu_s()
        r = measured(cmd, cold=False)
        r["cpu_s"] += self.cpu_s() - cpu_before
        r["max_rss_mib"] = self.max_rss_mib()
        r["cold"] = dropped
        return r

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()
        self.stderr.close()


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def cell(s, fmt="{:.1f}"):
    """A stats() dict as "median (min-max)", or the median alone when the
    range shows as one number."""
    if s is None:
        return "-"
    median, low, high = (fmt.format(s[k]) for k in ("median", "min", "max"))
    return median if low == high else f"{median} ({low}-{high})"


_COMPARE = {">=": float.__ge__, "<=": float.__le__, ">": float.__gt__, "<": float.__lt__}


def ratio(name, values, target, source=None):
    """A ratio entry of the results shape; met is judged on the median.
    `source` (optional) says who set the target, e.g. "issue 4"."""
    s = stats(values)
    op, bound = target.split()
    entry = {"name": name, "value": s, "target": target,
             "met": _COMPARE[op](float(s["median"]), float(bound))}
    if source:
        entry["source"] = source
    return entry


def run_entry(scenario, tool, samples, data_mib=None):
    """A runs entry from a list of measured() results of one scenario/tool."""
    entry = {"scenario": scenario, "tool": tool,
             "wall_s": stats([s["wall_s"] for s in samples]),
             "cpu_s": stats([s["cpu_s"] for s in samples]),
             "max_rss_mib": stats([s["max_rss_mib"] for s in samples])}
    if data_mib:
        entry["mib_per_s"] = stats([data_mib / s["wall_s"] for s in samples])
    return entry


def suite_args(description):
    """The arguments every suite script takes (see the module comment)."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="CMake build directory (Release, bench on)")
    ap.add_argument("--work", default=os.environ.get("BKP_BENCH_DIR", "/var/tmp/bkp-bench"),
                    help="scratch directory on the disk to measure (default %(default)s)")
    ap.add_argument("--out", required=True, help="results JSON file to write")
    ap.add_argument("--mib", type=int, default=1024, help="dataset size (default %(default)s)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: one repetition, shortest loads; figures are not kept")
    return ap


def write_results(path, results):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2) + "\n")
