#!/usr/bin/env bash
# Checks the layering of the source tree against its #include lines: every
# include of a C/C++ file under the scanned folders is resolved to the file
# it names, and an include from a folder to one that scripts/include-layers.txt
# does not allow it is a violation: "upward" when the included folder sits
# above the includer (it may itself include the includer's folder), "across"
# otherwise. Fails listing every violation, with file and line.
#
#   scripts/check-includes.sh                 every violation fails
#   scripts/check-includes.sh --allow-known   the ones scripts/include-exceptions.txt
#                                             lists pass (and a listed one that no
#                                             longer occurs fails): what CI runs
#   scripts/check-includes.sh --graph         also print the folder dependency graph
#
# --root DIR, --layers FILE, --exceptions FILE check another tree (the tests
# of this script use a small one). Exit status: 0 clean, 1 violations, 2 bad
# usage or a bad layers file.
#
# Why a script and not the compiler: a header can include anything the
# include path reaches, so nothing in the build stops a lower layer from
# reaching up; this makes the layering a checked fact. Why line-based: fast
# (well under a second for the tree) and needs no build; an include inside
# `#if 0` or a block comment still counts, which errs on the strict side.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here/.." "$@" <<'PYTHON'
import argparse
import os
import re
import sys

SOURCE_EXTENSIONS = (".c", ".cc", ".cpp", ".h", ".hpp", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def die(message):
    print(f"check-includes: {message}", file=sys.stderr)
    sys.exit(2)


def read_layers(path):
    """The layers file as (scan dirs, include roots, [(folder, allowed set)])."""
    scan, roots, rules = [], [], []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        die(f"cannot read the layers file {path}: {e.strerror}")
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "scan":
            scan += words[1:]
        elif words[0] == "include-root":
            roots += words[1:]
        elif words[0].endswith(":"):
            folder = words[0][:-1].rstrip("/")
            if any(folder == f for f, _ in rules):
                die(f"{path}:{number}: folder '{folder}' has a second line")
            rules.append((folder, set(w.rstrip("/") for w in words[1:])))
        else:
            die(f"{path}:{number}: expected 'scan', 'include-root' or 'FOLDER: ...', "
                f"got '{raw.strip()}'")
    if not scan:
        die(f"{path}: no 'scan' line: nothing to check")
    return scan, roots, rules


def pattern_matches(pattern, folder):
    p, f = pattern.split("/"), folder.split("/")
    return len(p) == len(f) and all(a == "*" or a == b for a, b in zip(p, f))


def rule_for(rules, folder):
    for name, allowed in rules:
        if name == folder:
            return allowed
    for name, allowed in rules:
        if "*" in name and pattern_matches(name, folder):
            return allowed
    return None


def check_acyclic(rules, layers_path):
    """The allowed-dependency table must be a layering: no cycle."""
    edges = {name: [a for a in allowed if a != name] for name, allowed in rules}
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            cycle = trail[trail.index(node):] + [node]
            die(f"{layers_path}: the table has a cycle: {' -> '.join(cycle)}")
        state[node] = "open"
        for nxt in edges.get(node, []):
            visit(nxt, trail + [node])
        state[node] = "done"

    for name in edges:
        visit(name, [])


def reaches(rules, start, goal):
    """Whether `start` may depend on `goal`, directly or through other folders."""
    seen, todo = set(), [start]
    while todo:
        folder = todo.pop()
        if folder in seen:
            continue
        seen.add(folder)
        allowed = rule_for(rules, folder) or set()
        if any(a == goal or ("*" in a and pattern_matches(a, goal)) for a in allowed):
            return True
        todo += [a for a in allowed if "*" not in a]
    return False


def may_include(rules, folder, target):
    if folder == target:
        return True
    allowed = rule_for(rules, folder)
    return any(a == target or ("*" in a and pattern_matches(a, target)) for a in allowed)


def resolve(root, including_file, kind, name, roots):
    """The repository path `name` refers to, or None if not in the tree."""
    candidates = []
    if kind == '"':
        candidates.append(os.path.join(os.path.dirname(including_file), name))
    candidates += [os.path.join(r, name) for r in roots]
    for c in candidates:
        c = os.path.normpath(c)
        if os.path.isfile(os.path.join(root, c)):
            return c
    return None


def source_files(root, scan):
    for top in scan:
        if not os.path.isdir(os.path.join(root, top)):
            die(f"scanned folder '{top}' does not exist under {root}")
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith(SOURCE_EXTENSIONS):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def read_exceptions(path):
    known = {}
    if path is None or not os.path.exists(path):
        return known
    for number, raw in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split("->")]
        if len(parts) != 2 or not all(parts):
            die(f"{path}:{number}: expected 'FILE -> INCLUDED FILE', got '{raw.strip()}'")
        known[tuple(parts)] = number
    return known


def main():
    ap = argparse.ArgumentParser(prog="check-includes.sh")
    ap.add_argument("repo")
    ap.add_argument("--root", help="the tree to check (default: this repository)")
    ap.add_argument("--layers", help="default: ROOT/scripts/include-layers.txt")
    ap.add_argument("--exceptions", help="default: ROOT/scripts/include-exceptions.txt")
    ap.add_argument("--allow-known", action="store_true",
                    help="pass the violations the exceptions file lists")
    ap.add_argument("--graph", action="store_true", help="print the folder dependency graph")
    args = ap.parse_args()
    root = os.path.abspath(args.root or args.repo)
    layers_path = args.layers or os.path.join(root, "scripts", "include-layers.txt")
    exceptions_path = args.exceptions or os.path.join(root, "scripts", "include-exceptions.txt")

    scan, roots, rules = read_layers(layers_path)
    check_acyclic(rules, layers_path)
    known = read_exceptions(exceptions_path) if args.allow_known else {}

    problems, passed_known, edges = [], set(), {}
    files = includes = 0
    for path in source_files(root, scan):
        files += 1
        folder = os.path.dirname(path)
        if rule_for(rules, folder) is None:
            problems.append(f"{path}: folder '{folder}' has no line in {layers_path}: "
                            f"add one saying what it may include")
            continue
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, name = m.group(1), m.group(2)
                target = resolve(root, path, kind, name, roots)
                if target is None:
                    if kind == '"':
                        problems.append(f"{path}:{number}: \"{name}\" is not found beside the "
                                        f"file nor under any include-root of {layers_path}")
                    continue  # <...> outside the tree: a system or third-party header
                includes += 1
                target_folder = os.path.dirname(target)
                ok = may_include(rules, folder, target_folder)
                if target_folder != folder:
                    edges.setdefault((folder, target_folder), [0, ok])[0] += 1
                if ok:
                    continue
                if (path, target) in known:
                    passed_known.add((path, target))
                    continue
                target_rule = rule_for(rules, target_folder)
                upward = target_rule is not None and reaches(rules, target_folder, folder)
                how = (f"upward: {target_folder} is above it" if upward
                       else f"across: the layers file allows {folder} only "
                            f"{' '.join(sorted(rule_for(rules, folder))) or 'nothing'}")
                problems.append(f"{path}:{number}: includes {kind}{name}"
                                f"{'>' if kind == '<' else kind} ({target}): {folder} may not "
                                f"depend on {target_folder} ({how})")

    if args.graph:
        print("folder dependency graph (includes per edge; ! = not allowed):")
        for (a, b), (n, ok) in sorted(edges.items()):
            print(f"  {a:24} -> {b:24} {n:3}{'' if ok else '  !'}")

    for pair, number in sorted(known.items(), key=lambda kv: kv[1]):
        if pair not in passed_known:
            problems.append(f"{exceptions_path}:{number}: '{pair[0]} -> {pair[1]}' no longer "
                            f"occurs: delete the line")
    for (path, target) in sorted(passed_known):
        print(f"known exception: {path} -> {target}")
    if problems:
        print(f"check-includes: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    print(f"includes: {files} files, {includes} includes within the tree, layering holds"
          + (f" ({len(passed_known)} known exception(s))" if passed_known else ""))


main()
PYTHON
