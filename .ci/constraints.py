#!/usr/bin/env python3
"""constraints.txt: the exact versions of the bot's runtime dependencies that the tests ran with.

The Docker image installs these (`pip install -r constraints.txt`), and CI installs with
`-c constraints.txt`, so a rebuild gets what was tested. After upgrading a dependency and
running the tests: `python .ci/constraints.py` rewrites the file from this environment;
`--check` (CI) fails when the file and the environment differ.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "kling-omni-bot"
FILE = Path(__file__).resolve().parents[1] / "constraints.txt"
HEADER = (
    "# The runtime dependencies of kling-omni-bot (and theirs) at the versions the tests ran\n"
    "# with; the Dockerfile installs exactly these. Regenerate with: python .ci/constraints.py\n"
)


def runtime_closure(project: str = PROJECT) -> dict[str, str]:
    """Every package the installed project needs at run time (no extras), with its version."""
    pinned: dict[str, str] = {}
    waiting = [Requirement(text) for text in distribution(project).requires or []]
    while waiting:
        requirement = waiting.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # another Python, another platform, or an optional extra
        name = canonicalize_name(requirement.name)
        if name in pinned:
            continue
        try:
            found = distribution(requirement.name)
        except PackageNotFoundError:
            sys.exit(f"{requirement.name} is needed but not installed: install the project first")
        pinned[name] = found.version
        waiting += [Requirement(text) for text in found.requires or []]
    return pinned


def render(pinned: dict[str, str]) -> str:
    """The file's text: the header, then `name==version` lines in name order."""
    return HEADER + "".join(f"{name}=={pinned[name]}\n" for name in sorted(pinned))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if constraints.txt differs from this env"
    )
    args = parser.parse_args()
    text = render(runtime_closure())
    if not args.check:
        FILE.write_text(text, encoding="utf-8")
        print(f"wrote {FILE}")
        return 0
    if FILE.read_text(encoding="utf-8") != text:
        print(
            "constraints.txt does not match the installed versions: install with "
            "`pip install -c constraints.txt -e .[dev]`, or after an upgrade that passed the "
            "tests, run `python .ci/constraints.py`.",
            file=sys.stderr,
        )
        return 1
    print("constraints.txt matches the installed runtime dependencies")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
