"""`make mutants`: put each deliberate fault of devtools/faults.py into a copy of the tree, run its tests.

For each fault: copy the working tree (without .venv, .git and caches) to a temporary directory,
apply the fault there (its pattern, and each of its ``also`` edits, must match exactly once, else
STALE), and run the fault's tests with this interpreter (``pytest -x -q``). A fault is KILLED
when its tests fail, SURVIVED when they pass; anything else (no test selected, every test skipped
on this database, pytest crashed) is an ERROR. The checkout itself is never modified. Exit
status 1 if any fault survived, is stale or errored.

    python -m devtools.mutants                 # every fault, SQLite
    python -m devtools.mutants --only NAME     # one fault (repeatable)
    python -m devtools.mutants --list          # the fault list
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python -m devtools.mutants
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.faults import FAULTS, Fault, by_name

ROOT = Path(__file__).resolve().parent.parent
# Not copied: the virtualenv (the same interpreter runs the copy), git, caches, local data.
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "instance", "node_modules", "*.pyc"
)


@dataclass
class Result:
    fault: Fault
    verdict: str  # killed | survived | stale | error
    detail: str
    seconds: float


def say(message: str = "") -> None:
    print(message, flush=True)  # noqa: T201


def apply_fault(tree: Path, fault: Fault) -> str | None:
    """Write the fault (and its further edits) into the copy; return why it is stale, or None."""
    edits = [(fault.file, fault.find, fault.replace, fault.regex)]
    edits += [(file, find, replace, False) for file, find, replace in fault.also]
    for file, find, replace, regex in edits:
        stale = _edit(tree, file, find, replace, regex)
        if stale is not None:
            return stale
    return None


def _edit(tree: Path, file: str, find: str, replace: str, regex: bool) -> str | None:
    path = tree / file
    if not path.exists():
        return f"{file} does not exist"
    source = path.read_text()
    pattern = find if regex else re.escape(find)
    matches = len(re.findall(pattern, source, flags=re.MULTILINE))
    if matches != 1:
        return f"pattern matches {matches} times in {file} (needs exactly 1)"
    replacement = replace if regex else replace.replace("\\", "\\\\")
    path.write_text(re.sub(pattern, replacement, source, count=1, flags=re.MULTILINE))
    return None


def pytest_command(fault: Fault, workers: int) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *fault.tests]
    if fault.k:
        command += ["-k", fault.k]
    if workers > 1:
        command += ["-n", str(workers)]
    return command


def run_fault(fault: Fault, workers: int, timeout_s: int, verbose: bool, baseline: bool) -> Result:
    """Copy the tree, apply one fault (unless ``baseline``), run its tests, and judge the outcome."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{fault.name}-") as folder:
        tree = Path(folder) / "tree"
        shutil.copytree(ROOT, tree, ignore=SKIP, symlinks=True)
        if not baseline:
            stale = apply_fault(tree, fault)
            if stale is not None:
                return Result(fault, "stale", stale, time.monotonic() - started)
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = subprocess.run(
                pytest_command(fault, workers),
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            return Result(fault, "error", f"tests ran over {timeout_s} s", time.monotonic() - started)
    output = (done.stdout + done.stderr).strip()
    if verbose:
        say(output)
    last = output.splitlines()[-1] if output else ""
    failure = _first_failure(output)
    verdict = {0: "survived", 1: "killed"}.get(done.returncode, "error")
    if done.returncode == 0 and not re.search(r"\b\d+ passed\b", last):
        verdict, last = "error", f"no test ran on this database: {last}"  # e.g. all skipped
    if done.returncode == 2 and failure.startswith("FAILED"):
        verdict = "killed"  # -x under pytest-xdist ends as "interrupted" after the first failure
    if baseline:
        verdict = {"survived": "passes", "killed": "FAILS"}.get(verdict, verdict)
    if verdict == "error":
        last = f"pytest exit {done.returncode}: {last}"
    return Result(fault, verdict, failure or last, time.monotonic() - started)


def _first_failure(output: str) -> str:
    """The first failing test's node id, from pytest's short summary."""
    for line in output.splitlines():
        if line.startswith(("FAILED tests/", "ERROR tests/")):
            return line.split(" - ")[0]
    return ""


def tests_label(fault: Fault) -> str:
    names = " ".join(t.removeprefix("tests/") for t in fault.tests)
    return f"{names} -k '{fault.k}'" if fault.k else names


def table(results: list[Result]) -> str:
    rows = [("fault", "tests run", "result", "s")]
    rows += [(r.fault.name, tests_label(r.fault), r.verdict, f"{r.seconds:.0f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply each deliberate fault to a copy and run its tests.")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this fault (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("-n", "--workers", type=int, default=1, help="pytest-xdist processes per fault")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a fault's tests may take")
    parser.add_argument("--baseline", action="store_true", help="run the tests unfaulted")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    args = parser.parse_args(argv)

    if args.list:
        for fault in FAULTS:
            say(f"{fault.name:38} {fault.file:22} {fault.breaks}")
            say(f"{'':38} tests: {tests_label(fault)}")
        return 0
    try:
        faults = [by_name(name) for name in args.only] if args.only else list(FAULTS)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    database = os.environ.get("DATABASE_URL", "") or "sqlite (temporary)"
    say(f"{len(faults)} faults, database: {database.split('@')[-1]}")
    results = []
    for fault in faults:
        result = run_fault(fault, args.workers, args.timeout, args.verbose, args.baseline)
        say(f"  {fault.name}: {result.verdict} ({result.seconds:.0f} s) {result.detail}")
        results.append(result)
    say()
    say(table(results))
    bad = [r for r in results if r.verdict not in ("killed", "passes")]
    if bad:
        say(f"\n{len(bad)} of {len(results)} not killed: {', '.join(r.fault.name for r in bad)}")
        return 1
    say(f"\nall {len(results)} {'pass' if args.baseline else 'killed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
