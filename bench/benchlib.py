"""Shared pieces of the benchmark scripts: timing a command the way the OS
accounts for it, a running hostd for the duration of a with-block, the
medians-with-range every figure is reported as, and the results shape every
script writes so the harness can merge them.

Results shape (one JSON object per script):
  {"suite": NAME, "dataset_mib": N, "reps": R, "cold_cache": bool,
   "runs":   [{"scenario", "tool", "wall_s", "cpu_s", "max_rss_mib", "mib_per_s"}],
   "ratios": [{"name", "value", "target", "met"}],
   "figures": {...free-form extras...}}
where every timing is a stats() dict: {"median", "min", "max"}.

Python 3 standard library only: the harness runs on a fresh Debian machine.
"""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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


def measured(cmd, cold=True, env=None):
    """Runs cmd (a list, or a str for a shell pipeline) and returns its wall
    time, CPU time and peak RSS. wait4 reports the child's own usage,
    including the children it waited for (the stages of a pipeline). A
    failing command ends the benchmark with its stderr: a figure from a
    failed run would be a lie."""
    dropped = drop_caches() if cold else False
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            sys.exit(f"bench: {cmd!r} failed ({code}):\n{err.read().decode()[-2000:]}")
        out.seek(0)
        return {"wall_s": wall, "cold": dropped, "cpu_s": usage.ru_utime + usage.ru_stime,
                "max_rss_mib": usage.ru_maxrss / 1024, "stdout": out.read().decode()}


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
        self.stderr = open(self.log, "ab") if self.log else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.stderr)
        for _ in range(2400):
            if self.port_file.exists() and self.port_file.read_text().endswith("\n"):
                self.port = self.port_file.read_text().strip()
                return self
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                sys.exit(f"bench: hostd exited: {self.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        sys.exit("bench: hostd did not start")

    def max_rss_mib(self):
        """Peak RSS of the host so far (backups run inside it)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

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


def ratio(name, values, target):
    """A ratio entry of the results shape. `target` is ">= X" or "<= X"."""
    s = stats(values)
    op, bound = target.split()
    met = s["median"] >= float(bound) if op == ">=" else s["median"] <= float(bound)
    return {"name": name, "value": s, "target": target, "met": met}


def run_entry(scenario, tool, samples, data_mib=None):
    """A runs entry from a list of measured() results of one scenario/tool."""
    entry = {"scenario": scenario, "tool": tool,
             "wall_s": stats([s["wall_s"] for s in samples]),
             "cpu_s": stats([s["cpu_s"] for s in samples]),
             "max_rss_mib": stats([s["max_rss_mib"] for s in samples])}
    if data_mib:
        entry["mib_per_s"] = stats([data_mib / s["wall_s"] for s in samples])
    return entry
