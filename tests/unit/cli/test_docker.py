"""The Docker image as far as a machine without Docker can check it: every file the Dockerfile
copies exists and reaches the build, the dependencies come before the code and at the pinned
versions, nothing makes a config file mandatory, and the README runs it as it should be run.

That the bot runs on the environment alone is shown by cli/test_check.py (`check` and `run` in
an empty directory with only DISCORD_TOKEN and COMETAPI_KEY).
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
DEV_TOOLS = {"pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "mypy", "ruff"}


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    result = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def pins() -> dict[str, str]:
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator and re.fullmatch(r"[A-Za-z0-9._-]+", name), line
            pinned[canonicalize_name(name)] = version.strip()
    return pinned


def test_every_copied_file_exists_and_reaches_the_build() -> None:
    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source), f"COPY {source}: excluded by .dockerignore"


def test_dependencies_are_installed_pinned_before_the_code_is_copied() -> None:
    steps = instructions()
    install = steps.index(("RUN", "pip install -r constraints.txt"))
    code = steps.index(("COPY", "bot ./bot"))
    assert install < code
    assert ("COPY", "constraints.txt ./") in steps[:install]
    assert ("RUN", "pip install --no-deps . && pip check") in steps[code:]


def test_the_image_needs_no_config_file_and_runs_as_uid_10001() -> None:
    steps = instructions()
    environment = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert "KLING_BOT_CONFIG" not in environment  # it would make /app/config.toml mandatory
    assert any("useradd" in rest and "--uid 10001" in rest for _, rest in steps)
    assert ("USER", "kling") in steps
    assert steps[-1] == ("CMD", '["kling-bot", "run"]')


def test_constraints_pin_every_runtime_dependency_and_no_dev_tool() -> None:
    pinned = pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's {text!r}"
        )
    assert not DEV_TOOLS & set(pinned), "dev tools don't belong in the image"


def test_constraints_are_closed_like_pip_check_wants() -> None:
    """Each pinned package's own requirements are pinned too (checked from the metadata of the
    pinned version where this environment has it installed: CI installs exactly these)."""
    pinned = pins()
    checked = 0
    for name, version in pinned.items():
        try:
            installed = distribution(name)
        except PackageNotFoundError:
            continue
        if installed.version != version:
            continue
        checked += 1
        for text in installed.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            needed = canonicalize_name(requirement.name)
            assert needed in pinned, f"{name} needs {requirement.name}, not in constraints.txt"
            assert requirement.specifier.contains(pinned[needed], prereleases=True), text
    assert checked, "none of the pinned versions is installed: install with -c constraints.txt"


def test_the_readme_runs_the_image_as_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docker = readme.split("## Docker", 1)[1].split("\n## ", 1)[0]
    assert "--env-file kling-bot.env" in docker
    assert "--restart unless-stopped" in docker
    assert "chown 10001:10001" in docker
    for text in (readme, (ROOT / "Dockerfile").read_text(encoding="utf-8")):
        assert not re.search(r"-e\s+(DISCORD_TOKEN|COMETAPI_KEY)=", text), (
            "a secret on a command line"
        )
