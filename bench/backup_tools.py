"""The tools the backup suite (backup_bench.py) runs, each behind one small
interface, so the suite's loop is the same for our providers and for the
peers an operator would pick instead:

  tool.prepare(rep)             untimed set-up in a fresh repetition
  tool.run(scenario, rep)       one timed run: a benchlib.measured() dict,
                                or None where the tool has no such scenario
  tool.stored_bytes(rep)        what its backups occupy
  tool.name, tool.key           how tables name it; how --skip names it

Scenarios: "full", "incr_1pct", "incr_10pct" (a backup after that much new
data), "verify" (re-read and check everything stored), "restore" (the full
backup, into rep.restore_dir(tool)). `rep` holds the repetition's paths and,
while the host runs, rep.host (benchlib.Host).

Python 3 standard library only.
"""
import json
import shlex
import shutil

from benchlib import checked, dir_bytes, measured

INCREMENTAL = ("incr_1pct", "incr_10pct")


class Provider:
    """One of our providers, driven as an operator drives it: backups and
    verify through the running host with hostctl, restore offline with
    `hostd restore` (the host stopped). local_disk has no incremental type:
    its later backups are full ones that store only chunks it lacks."""

    def __init__(self, build, plugin, incremental):
        self.name = self.key = self.plugin = plugin
        self.build = build
        self.incremental = incremental
        self.backup_ids = {}  # scenario -> backup id, of the current repetition

    def config_entry(self, rep, rate_limit=0, name=None):
        return (f'[[providers]]\nname = "{name or self.name}"\nplugin = "{self.plugin}"\n'
                f'[providers.settings]\npath = "{self.repo(rep, name)}"\n'
                f"rate_limit = {rate_limit}\n" + self.extra_settings(rep))

    def extra_settings(self, rep):
        return ""

    def repo(self, rep, name=None):
        return rep.dir / f"repo-{name or self.name}"

    def prepare(self, rep):
        self.backup_ids = {}

    def hostctl(self, rep, *args):
        return [self.build.hostctl, "--port", rep.host.port, *args]

    def run(self, scenario, rep):
        if scenario == "restore":
            return measured([self.build.hostd, "restore", "--config", rep.config, "--provider",
                             self.name, "--backup", self.backup_ids["full"], "--data-dir",
                             rep.restore_dir(self)])
        if scenario == "verify":
            return rep.host.measured(self.hostctl(rep, "backup", "verify", "--provider", self.name))
        backup_type = "incremental" if scenario in INCREMENTAL and self.incremental else "full"
        r = rep.host.measured(self.hostctl(rep, "backup", "create", "--provider", self.name,
                                           "--type", backup_type, "--json"))
        result = json.loads(r["stdout"])["operation"]["result"]
        self.backup_ids[scenario] = result["backup_id"]
        r["bytes_read"] = result["bytes_read"]
        return r

    def stored_bytes(self, rep):
        return dir_bytes(self.repo(rep))


class EncryptedProvider(Provider):
    """local_disk with `encryption_identity` (issue 19): every object and
    manifest an age file, on the same data as plain local_disk, in the same
    repetitions (the tool order rotates), so the ratios between the two are
    paired even on a busy machine."""

    def __init__(self, build):
        super().__init__(build, "local_disk", incremental=False)
        self.name = "local_disk_age"
        self.key = "age"

    def key_file(self, rep):
        return rep.dir / "age-key.txt"

    def extra_settings(self, rep):
        if not self.key_file(rep).exists():
            checked([self.build.keygen, "-o", self.key_file(rep)])
        return f'encryption_identity = "{self.key_file(rep)}"\n'


class ZstdProvider(Provider):
    """local_disk with `compression = "zstd"` at one level (issue 23), on
    the same data as plain local_disk and restic, in the same repetitions,
    so its stored size and throughput are paired with theirs."""

    def __init__(self, build, level):
        super().__init__(build, "local_disk", incremental=False)
        self.level = level
        self.name = f"local_disk_zstd{level}"
        self.key = "zstd"

    def extra_settings(self, rep):
        return f'compression = "zstd"\ncompression_level = {self.level}\n'


class Copy:
    """`cp -r`: the floor for a full backup (no compression, no checks)."""

    name = "cp -r"
    key = "cp"

    def prepare(self, rep):
        pass

    def run(self, scenario, rep):
        if scenario != "full":
            return None
        target = rep.dir / "cp-copy"
        r = measured(["cp", "-r", rep.data, target])
        self.bytes = dir_bytes(target)
        shutil.rmtree(target)  # a second copy of the data needs the disk space
        return r

    def stored_bytes(self, rep):
        return self.bytes


class TarPipe:
    """`tar -cf - | COMPRESSOR` into one file; restore `DECOMPRESSOR | tar -x`."""

    def __init__(self, name, compress, decompress, suffix):
        self.name = name
        self.key = f"tar-{suffix}"
        self.compress = compress
        self.decompress = decompress
        self.suffix = suffix

    def archive(self, rep):
        return rep.dir / f"data.tar.{self.suffix}"

    def prepare(self, rep):
        pass

    def run(self, scenario, rep):
        q = shlex.quote
        if scenario == "full":
            return measured(f"tar -C {q(str(rep.data.parent))} -cf - {q(rep.data.name)} | "
                            f"{self.compress} > {q(str(self.archive(rep)))}")
        if scenario == "restore":
            target = rep.restore_dir(self)
            target.mkdir()
            return measured(f"{self.decompress} {q(str(self.archive(rep)))} | "
                            f"tar -C {q(str(target))} -xf -")
        return None

    def stored_bytes(self, rep):
        return self.archive(rep).stat().st_size


class Restic:
    """restic with a local repository, as its documentation sets one up:
    full backup, the same path again after each mutation (restic finds the
    parent snapshot and re-reads only changed files), check --read-data,
    restore of the first snapshot. The repository and cache are named on
    the command line; the password comes from RESTIC_PASSWORD."""

    name = "restic"
    key = "restic"

    def restic(self, rep, *args):
        return ["restic", "-r", rep.dir / "repo-restic", "--cache-dir", rep.dir / "restic-cache",
                *args]

    def prepare(self, rep):
        checked(self.restic(rep, "init"), env=rep.env(RESTIC_PASSWORD="bench"))

    def run(self, scenario, rep):
        if scenario == "full" or scenario in INCREMENTAL:
            cmd = self.restic(rep, "backup", "--quiet", "--tag", scenario, rep.data)
        elif scenario == "verify":
            cmd = self.restic(rep, "check", "--read-data")
        else:
            cmd = self.restic(rep, "restore", "latest", "--tag", "full", "--target",
                              rep.restore_dir(self))
        return measured(cmd, env=rep.env(RESTIC_PASSWORD="bench"))

    def stored_bytes(self, rep):
        return dir_bytes(rep.dir / "repo-restic")


class Borg:
    """borgbackup, unencrypted with lz4 as the issue asks: `borg create` per
    backup (its files cache skips unchanged files), check --verify-data,
    extract of the first archive (into the current directory, as borg
    does). Its cache and keys live in BORG_BASE_DIR, one per repetition."""

    name = "borg"
    key = "borg"

    def repo(self, rep):
        return rep.dir / "repo-borg"

    def env(self, rep):
        return rep.env(BORG_BASE_DIR=str(rep.dir / "borg-base"),
                       BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes")

    def prepare(self, rep):
        checked(["borg", "init", "-e", "none", self.repo(rep)], env=self.env(rep))

    def run(self, scenario, rep):
        if scenario == "full" or scenario in INCREMENTAL:
            return measured(["borg", "create", "--compression", "lz4",
                             f"{self.repo(rep)}::{scenario}", rep.data], env=self.env(rep))
        if scenario == "verify":
            return measured(["borg", "check", "--verify-data", self.repo(rep)], env=self.env(rep))
        target = rep.restore_dir(self)
        target.mkdir()
        return measured(["borg", "extract", f"{self.repo(rep)}::full"], env=self.env(rep),
                        cwd=target)

    def stored_bytes(self, rep):
        return dir_bytes(self.repo(rep))


def all_tools(build, zstd_levels=(3,)):
    """Ours first, then the peers, in the order the tables list them."""
    return [Provider(build, "local_disk", incremental=False),
            Provider(build, "wal_archive", incremental=True),
            EncryptedProvider(build),
            *(ZstdProvider(build, level) for level in zstd_levels),
            Copy(),
            TarPipe("tar | lz4 -1", "lz4 -1 -q", "lz4 -dc -q", "lz4"),
            TarPipe("tar | zstd -1 -T0", "zstd -1 -T0 -q", "zstd -dc -q", "zstd"),
            Restic(),
            Borg()]
