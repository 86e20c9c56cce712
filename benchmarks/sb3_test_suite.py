"""SB3's own test suite, run against Ballast with only its imports changed.

Downloads Stable-Baselines3's source distribution from PyPI into a scratch folder, takes the test
files that exercise SB3's public API (``SELECTED``; those left out and why: ``LEFT_OUT``), rewrites
their ``import stable_baselines3...`` / ``from stable_baselines3... import`` statements to
``ballast`` (textually, nothing else: a test that names ``stable_baselines3`` in a string or through
an alias keeps it), runs each file with pytest in its own subprocess with a per-test time limit,
and writes the section ``sb3-test-suite`` of docs/benchmarks.md: per file, tests passed, failed,
errored and skipped, then the most frequent failure reasons (the first line of each error).

Run by hand, never by ``make test``; it takes a while (tens of minutes on 2 cores):

    python benchmarks/sb3_test_suite.py                      # SB3 2.9.2, 120 s per test
    python benchmarks/sb3_test_suite.py --files test_predict.py --timeout 60 --keep scratch/

The scratch folder holds the rewritten tests, each file's JUnit XML and pytest output, and
``results.json``; it is removed at the end unless ``--keep`` names it.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import ROOT, command_line, git_revision, machine, update_section

SB3_VERSION = "2.9.2"

# The test files that exercise SB3's public API, in the order they run.
SELECTED = [
    "test_save_load.py", "test_callbacks.py", "test_predict.py", "test_vec_envs.py", "test_vec_normalize.py",
    "test_custom_policy.py", "test_run.py", "test_logger.py", "test_utils.py", "test_spaces.py",
    "test_train_eval_mode.py", "test_deterministic.py", "test_env_checker.py", "test_monitor.py",
    "test_vec_monitor.py", "test_vec_check_nan.py", "test_vec_extract_dict_obs.py", "test_dict_env.py",
    "test_cnn.py", "test_identity.py", "test_sde.py", "test_tensorboard.py", "test_preprocessing.py", "test_envs.py",
    "test_her.py",
]

# The test files left out, and why: they test SB3's internals or need what this machine lacks.
LEFT_OUT = {
    "test_buffers.py": "SB3's buffer classes and their sample layout (Ballast's buffers are its own)",
    "test_distributions.py": "SB3's distribution classes' internals (log-prob and entropy formulas on its classes)",
    "test_gae.py": "SB3's RolloutBuffer.compute_returns_and_advantage called directly",
    "test_n_step_replay.py": "SB3's NStepReplayBuffer internals",
    "test_vec_stacked_obs.py": "SB3's StackedObservations helper class",
}

TIMEOUT_CONFTEST = '''\
"""Written by benchmarks/sb3_test_suite.py: a per-test time limit (SIGALRM), no plugin needed."""
import os
import signal

import pytest

LIMIT_S = int(os.environ["SB3_SUITE_TEST_TIMEOUT"])


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout(f"test ran past {LIMIT_S} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
'''

IMPORT_LINE = re.compile(r"^(\s*(?:from|import)\s+)stable_baselines3\b", re.M)
HEX = re.compile(r"0x[0-9a-fA-F]+")
TMP_PATH = re.compile(r"/tmp/[^\s'\")]+")


@dataclass
class FileResult:
    name: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    collection_error: str = ""
    uncollected_tests: int = 0
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)


def download_sdist(version: str, scratch: Path) -> Path:
    """``pip download`` SB3's source distribution (no dependencies) into ``scratch``; returns the archive."""
    subprocess.run([sys.executable, "-m", "pip", "download", f"stable-baselines3=={version}", "--no-binary",
                    ":all:", "--no-deps", "--quiet", "-d", str(scratch)], check=True)
    return next(scratch.glob("stable_baselines3-*.tar.gz"))


def extract_tests(archive: Path, scratch: Path) -> tuple[Path, dict[str, str]]:
    """Unpack the archive's ``tests/`` folder and its pytest settings; returns the folder and the
    ``[tool.pytest.ini_options]`` text of SB3's pyproject.toml."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name or m.name.endswith("/pyproject.toml")]
        tar.extractall(scratch, members=members, filter="data")
    root = next(p for p in scratch.iterdir() if p.is_dir() and p.name.startswith("stable_baselines3-"))
    return root / "tests", root / "pyproject.toml"


def rewrite_imports(text: str) -> str:
    """``from stable_baselines3.x import y`` -> ``from ballast.x import y``; ``import stable_baselines3``
    -> ``import ballast``. Nothing else in the file changes."""
    return IMPORT_LINE.sub(r"\1ballast", text)


def write_pytest_ini(pyproject: Path, dest: Path) -> None:
    """SB3's own pytest settings (warning filters, markers) as a pytest.ini beside the tests."""
    import tomllib

    options = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]"]
    for key in ("filterwarnings", "markers"):
        if key in options:
            lines.append(f"{key} =")
            lines.extend(f"    {value}" for value in options[key])
    dest.write_text("\n".join(lines) + "\n")


def first_line(message: str) -> str:
    """The first non-empty line of an error, with addresses and temporary paths blanked so that equal
    reasons group together."""
    line = next((s.strip() for s in message.splitlines() if s.strip()), "(no message)")
    line = TMP_PATH.sub("/tmp/…", HEX.sub("0x…", line)).replace(f"{ROOT}/", "")
    return line[:160]


def reason_of(element: ET.Element) -> str:
    """The reason of a JUnit failure/error: its message, else the last ``E   `` line of its text."""
    message = element.get("message") or ""
    text = element.text or ""
    e_lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    generic = (not message or message == "collection failure"
               or message.startswith(("failed on setup", "failed on teardown")))
    if e_lines and generic:
        return first_line(e_lines[0])
    return first_line(message or text)


def run_file(test_file: Path, scratch: Path, timeout_s: int, file_timeout_s: int) -> FileResult:
    """Run one rewritten test file with pytest in a subprocess; parse its JUnit XML."""
    result = FileResult(test_file.name)
    xml_path = scratch / "reports" / f"{test_file.stem}.xml"
    log_path = scratch / "reports" / f"{test_file.stem}.log"
    xml_path.parent.mkdir(exist_ok=True)
    env = {**_environ(), "PYTHONPATH": str(ROOT), "SB3_SUITE_TEST_TIMEOUT": str(timeout_s)}
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN",
                               f"--junitxml={xml_path}", "-c", str(test_file.parent / "pytest.ini"),
                               "--rootdir", str(test_file.parent), str(test_file)],
                              cwd=test_file.parent, env=env, capture_output=True, text=True,
                              timeout=file_timeout_s)
        log_path.write_text(proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired:
        result.collection_error = f"the file ran past {file_timeout_s} s"
    result.seconds = time.monotonic() - start
    if result.collection_error or not xml_path.exists():
        result.uncollected_tests = len(re.findall(r"^def test_", test_file.read_text(), re.M))
    if not xml_path.exists():
        result.collection_error = result.collection_error or "pytest wrote no report"
        return result
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
        if failure is not None:
            result.failed += 1
            result.reasons.append(reason_of(failure))
        elif error is not None:
            if not case.get("name") or case.get("classname", "") == "":
                result.collection_error = reason_of(error)
                result.uncollected_tests = len(re.findall(r"^def test_", test_file.read_text(), re.M))
            else:
                result.errors += 1
                result.reasons.append(reason_of(error))
        elif skipped is not None:
            result.skipped += 1
        else:
            result.passed += 1
    return result


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def markdown(results: list[FileResult], version: str, timeout_s: int, top: int) -> str:
    totals = FileResult("all")
    for r in results:
        totals.passed += r.passed
        totals.failed += r.failed
        totals.errors += r.errors
        totals.skipped += r.skipped
    ran = totals.passed + totals.failed + totals.errors
    uncollected = [r for r in results if r.collection_error]
    lines = [
        f"## SB3 {version}'s own tests, run against Ballast with their imports changed",
        "",
        f"Command: `{command_line()}` (revision {git_revision()}), on {machine()}.",
        "",
        f"SB3's test files that exercise its public API, with `stable_baselines3` replaced by `ballast` in their "
        f"import statements and nothing else, each run by pytest in its own process ({timeout_s} s per test). "
        f"Of {ran} tests that ran, **{totals.passed} passed** ({100 * totals.passed / max(ran, 1):.0f} %), "
        f"{totals.failed} failed and {totals.errors} errored; {totals.skipped} were skipped. "
        + (f"{len(uncollected)} of the {len(results)} files could not be imported (one missing name at the top of "
           f"a file stops all of its {sum(r.uncollected_tests for r in uncollected)} test functions, counted in no "
           "column). " if uncollected else f"Every one of the {len(results)} files was imported. ")
        + "These tests check SB3's own behaviour, internals included, so "
        "part of the failures are the deliberate differences of docs/migrating-from-sb3.md.",
        "",
        "| file | passed | failed | errors | skipped | seconds | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        note = (f"not collected ({r.uncollected_tests} test functions): `{r.collection_error}`"
                if r.collection_error else "")
        lines.append(f"| {r.name} | {r.passed} | {r.failed} | {r.errors} | {r.skipped} | {r.seconds:.0f} | {note} |")
    lines.append(f"| **all** | **{totals.passed}** | **{totals.failed}** | **{totals.errors}** | "
                 f"**{totals.skipped}** | | |")
    groups = collections.Counter(reason for r in results for reason in r.reasons)
    lines += ["", f"Most frequent reasons of failures and errors (first line of each; {len(groups)} distinct):", "",
              "| tests | reason |", "|---:|---|"]
    for reason, count in groups.most_common(top):
        lines.append(f"| {count} | `{reason.replace('|', '∣').replace('`', chr(39))}` |")
    lines += ["", "Left out: " + "; ".join(f"{name} ({why})" for name, why in LEFT_OUT.items()) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=SB3_VERSION, help="SB3 version to download")
    parser.add_argument("--files", nargs="*", default=SELECTED, help="test files to run (default: SELECTED)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test")
    parser.add_argument("--file-timeout", type=int, default=3600, help="seconds per test file")
    parser.add_argument("--top", type=int, default=15, help="failure groups to list")
    parser.add_argument("--keep", type=Path, default=None, help="keep the scratch folder here")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="sb3-suite-")) if args.keep is None else args.keep.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        tests_dir, pyproject = extract_tests(download_sdist(args.version, scratch), scratch)
        write_pytest_ini(pyproject, tests_dir / "pytest.ini")
        (tests_dir / "conftest.py").write_text(TIMEOUT_CONFTEST)
        results = []
        for name in args.files:
            path = tests_dir / name
            path.write_text(rewrite_imports(path.read_text()))
            result = run_file(path, scratch, args.timeout, args.file_timeout)
            results.append(result)
            print(f"{name}: {result.passed} passed, {result.failed} failed, {result.errors} errors, "
                  f"{result.skipped} skipped {result.collection_error}", flush=True)
        (scratch / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
        body = markdown(results, args.version, args.timeout, args.top)
        if args.no_write:
            print(body)
        else:
            update_section("sb3-test-suite", body)
            print(body)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
