"""What every benchmark shares: summaries of samples, targets, the JSON report and logging.

A benchmark prints exactly one JSON object on stdout (see `Report`); everything else it has to say
goes to stderr through `logging`, so `python -m bench.x | jq` always works.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import operator
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("bench")

MIB = 1024 * 1024

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN (reported as null) when there are no samples."""
    return sum(values) / len(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: always one of the samples, so p99 of 195 gaps is a real gap."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float], *, digits: int = 3) -> dict[str, float | int]:
    """n, mean, p50, p90, p99 and max of the samples, rounded for reading."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(mean(values), digits),
        "p50": round(percentile(values, 50), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
    }


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of issue #4 part 8 and whether the measured figure meets it."""

    name: str
    value: float
    op: str  # one of <, <=, >, >=
    threshold: float
    unit: str

    @property
    def passed(self) -> bool:
        """True when `value op threshold` holds (a NaN never passes)."""
        return not math.isnan(self.value) and _COMPARE[self.op](self.value, self.threshold)

    def as_json(self) -> dict[str, Any]:
        """The target as it appears in the report."""
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "target": f"{self.op} {self.threshold:.10g} {self.unit}".strip(),
            "passed": self.passed,
        }


@dataclass
class Report:
    """The one JSON object a benchmark prints: parameters, figures, targets, pass/fail."""

    benchmark: str
    parameters: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, Any]:
        """Everything, with an overall `passed` that is true only when every target passed."""
        report = {
            "benchmark": self.benchmark,
            "passed": all(t.passed for t in self.targets),
            "targets": [t.as_json() for t in self.targets],
            "figures": self.figures,
            "parameters": self.parameters,
            "notes": self.notes,
            "elapsed_s": round(time.monotonic() - self.started_at, 2),
        }
        cleaned: dict[str, Any] = _without_nan(report)
        return cleaned

    def emit(self) -> None:
        """Print the report on stdout (the only thing a benchmark prints there)."""
        json.dump(self.as_json(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
        sys.stdout.flush()


def _without_nan(value: Any) -> Any:
    """NaN (a figure with no samples) as null: NaN is not JSON, and jq refuses it."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    return value


def base_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark has: `--seed` and `-v`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=4, help="seeds every random draw")
    parser.add_argument("-v", "--verbose", action="store_true", help="the bot's INFO logs too")
    return parser


def setup_logging(verbose: bool) -> None:
    """Logs to stderr; the bot's own INFO lines only with -v (they cost time under load)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    log.setLevel(logging.INFO)  # the benchmark's own progress lines always show


def read_proc_status_kib(field_name: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM …) in KiB; -1 where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1
