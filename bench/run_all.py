"""Every benchmark, one after another, each in its own process; one combined JSON object.

`python -m bench.run_all [--only slots detection ...] [--seed N]`

Separate processes keep one benchmark's memory and threads out of the next one's figures, and
running them one at a time keeps them from competing for the two cores.
`processes` needs a PostgreSQL server ($KLING_BOT_TEST_DATABASE_URL); without one it says so
and the summary shows its exit status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.common import base_parser, log, setup_logging

BENCHMARKS = ("slots", "detection", "startup", "download_memory", "processes")
_TIMEOUT_S = 480  # per benchmark: a safety net against a hang (processes takes ~3 min)


def run_one(name: str, seed: int, verbose: bool) -> dict[str, Any]:
    """`python -m bench.<name>` in a child process; its report, or why there is none."""
    command = [sys.executable, "-m", f"bench.{name}", "--seed", str(seed)]
    if verbose:
        command.append("-v")
    started = time.monotonic()
    # stderr passes through: the child's progress lines show as they happen.
    child = subprocess.run(command, stdout=subprocess.PIPE, timeout=_TIMEOUT_S, check=False)
    if child.returncode != 0:
        return {"benchmark": name, "passed": False, "error": f"exit status {child.returncode}"}
    try:
        report: dict[str, Any] = json.loads(child.stdout)
    except ValueError:
        return {"benchmark": name, "passed": False, "error": "its output is not JSON"}
    log.info("run_all: %s done in %.1f s", name, time.monotonic() - started)
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the combined JSON report."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    started = time.monotonic()
    reports = {name: run_one(name, args.seed, args.verbose) for name in args.only}
    combined = {
        "passed": all(report["passed"] for report in reports.values()),
        "summary": {
            name: [
                f"{'PASS' if t['passed'] else 'FAIL'} {t['name']}: {t['value']} ({t['target']})"
                for t in report.get("targets", [])
            ]
            or [report.get("error", "no targets")]
            for name, report in reports.items()
        },
        "benchmarks": reports,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    json.dump(combined, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
