"""`python -m bot.fakes.comet`: prints its base URL, serves, and exits cleanly on a signal."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from bot.fakes.comet import CREATE_PATH
from bot.fakes.comet.__main__ import parse_args


def test_options_map_to_the_config() -> None:
    args = parse_args(["--port", "0", "--shape", "wrapper3", "--fault-rate", "0.25"])
    assert (args.port, args.shape, args.fault_rate) == (0, "wrapper3", 0.25)
    with pytest.raises(SystemExit):
        parse_args(["--shape", "xml"])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_standalone_server_runs_and_stops(signum: signal.Signals) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.fakes.comet",
        "--port",
        "0",
        "--api-key",
        "sk-cli",
        "--shape",
        "wrapper",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        base_url = line.decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer sk-cli"}
        body = {"prompt": "p", "aspect_ratio": "1:1"}
        async with (
            aiohttp.ClientSession(base_url=base_url, headers=headers) as http,
            http.post(CREATE_PATH, json=body) as resp,
        ):
            assert resp.status == 200
        process.send_signal(signum)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
        assert process.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_result_size_option() -> None:
    assert parse_args(["--result-size-bytes", "1048576"]).result_size_bytes == 1048576


async def test_it_stops_when_its_stdin_closes_if_asked() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.fakes.comet",
        "--port",
        "0",
        "--stop-at-eof",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        assert line.startswith(b"http://127.0.0.1:")
        process.stdin.close()  # the parent is gone
        await asyncio.wait_for(process.wait(), timeout=10)
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
