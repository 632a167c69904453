"""Running `kling-bot` as an operator does: the installed console script, in its own process."""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Imported here, by the test's own user: after the fork's switch of users, the standard library
# may be out of reach (it is, when Python lives under /root).
from bot.cli.main import main

KLING_BOT = str(Path(sys.executable).with_name("kling-bot"))
PROCESS_TIMEOUT_S = 120  # a guard against hangs, not a speed assertion
# What would configure the bot behind a test's back.
_CONFIGURING = ("COMETAPI_KEY", "DISCORD_TOKEN", "KLING_BOT_CONFIG")


@dataclass
class Run:
    """How a `kling-bot` process ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Everything it printed."""
        return self.stdout + self.stderr


def operator_env(**variables: str) -> dict[str, str]:
    """The test's environment without anything that configures the bot, plus `variables`."""
    env = {name: value for name, value in os.environ.items() if name not in _CONFIGURING}
    return {**env, **variables}


async def kling_bot(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user: int | None = None,
) -> Run:
    """Run `kling-bot ARGS` to its end in `cwd` (as `user`, when the test may switch users)."""
    process = await asyncio.create_subprocess_exec(
        KLING_BOT,
        *args,
        cwd=cwd,
        env=dict(env) if env is not None else operator_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        user=user,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


def run_main_as(uid: int | None, argv: list[str], *, cwd: Path, env: Mapping[str, str]) -> Run:
    """`kling-bot ARGV` in a forked process that first becomes user `uid` (None: stays itself).

    For a test of what the bot's user may do: root may write anywhere, and this machine's Python
    may live where another user can't run it, so the fork takes the already loaded program along
    instead of starting the console script. Only for commands that fail before they would start
    threads or an event loop of their own.
    """
    read_out, write_out = os.pipe()
    read_err, write_err = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test
        code = 70
        try:
            os.dup2(write_out, 1)
            os.dup2(write_err, 2)
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            os.chdir(cwd)
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            os.environ.clear()
            os.environ.update(env)
            code = main(argv)
        except SystemExit as exited:
            code = exited.code if isinstance(exited.code, int) else 2
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_out)
    os.close(write_err)
    with os.fdopen(read_out, encoding="utf-8") as out, os.fdopen(read_err, encoding="utf-8") as err:
        # Small outputs: both fit the pipes' buffers, so reading one after the other can't stall.
        stdout, stderr = out.read(), err.read()
    _, status = os.waitpid(pid, 0)
    return Run(os.waitstatus_to_exitcode(status), stdout, stderr)
