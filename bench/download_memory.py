"""Memory while downloading a large result: the streamed client against read-it-all.

`python -m bench.download_memory [--size-mib 100]`

A fake CometAPI in its own process serves a result padded to `--size-mib` MiB. Each variant runs
in a fresh child process (memory the allocator kept from one would hide the other's growth), makes
one task through `OmniClient`, waits for it, and downloads the result:

- streamed: `OmniClient.download` (chunks to a `.part` file, fsync, rename);
- naive: `await resp.read()` on the same URL, then one write.

Growth = peak RSS during the download - RSS just before it. The peak is the kernel's VmHWM,
reset just before the download through /proc/self/clear_refs, and cross-checked by a thread that
samples VmRSS every millisecond. Target: the streamed download adds less than 20 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import MIB, Report, Target, base_parser, log, read_proc_status_kib, setup_logging
from bench.fake_host import FakeHost
from bench.workload import bench_request
from bot.fakes.comet import FakeCometConfig
from bot.omni.client import OmniClient, TaskStatus

VARIANTS = ("streamed", "naive")
_CHILD_TIMEOUT_S = 120


class _RssSampler:
    """Samples VmRSS on a thread, so a peak between two reads of VmHWM can't hide."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_kib = 0

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, read_proc_status_kib("VmRSS"))
            self._stop.wait(self._interval_s)


def _reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux: clear_refs 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


async def _finished_result_url(client: OmniClient, external_id: str) -> str:
    created = await client.create(bench_request(), external_task_id=external_id)
    while True:
        snapshot = await client.query(created.task_id)
        if snapshot.status is TaskStatus.SUCCEEDED and snapshot.video_url:
            return snapshot.video_url
        if snapshot.status.is_terminal:
            raise RuntimeError(f"the fake task ended {snapshot.status.value}")
        await asyncio.sleep(0.02)


async def _naive_download(session: aiohttp.ClientSession, url: str, dest: Path) -> int:
    """What a first version would write: the whole body in memory, then one write."""
    async with session.get(url) as resp:
        resp.raise_for_status()
        body = await resp.read()
    await asyncio.to_thread(dest.write_bytes, body)
    return len(body)


async def run_child(variant: str, base_url: str, size_bytes: int) -> dict[str, Any]:
    """One download in this process; the memory figures of it."""
    async with aiohttp.ClientSession() as session:
        client = OmniClient(session, base_url, FakeCometConfig().api_key)
        url = await _finished_result_url(client, f"bench-download-{variant}")
        with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
            dest = Path(tmp) / "result.mp4"
            gc.collect()
            is_hwm_reset = _reset_peak_rss()
            before_kib = read_proc_status_kib("VmRSS")
            started = time.perf_counter()
            with _RssSampler() as sampler:
                if variant == "streamed":
                    download = await client.download(url, dest, max_bytes=size_bytes * 2)
                    written = download.size_bytes
                else:
                    written = await _naive_download(session, url, dest)
            elapsed_s = time.perf_counter() - started
            hwm_kib = read_proc_status_kib("VmHWM") if is_hwm_reset else -1
            on_disk = dest.stat().st_size
    peak_kib = max(hwm_kib, sampler.peak_kib)
    return {
        "rss_before_mib": round(before_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "growth_mib": round((peak_kib - before_kib) / 1024, 1),
        "peak_source": "VmHWM and sampled VmRSS" if is_hwm_reset else "sampled VmRSS only",
        "bytes_written": written,
        "bytes_on_disk": on_disk,
        "seconds": round(elapsed_s, 2),
    }


async def _run_variant(variant: str, base_url: str, size_bytes: int) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.download_memory",
        "--child",
        variant,
        "--base-url",
        base_url,
        "--size-mib",
        str(size_bytes // MIB),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(child.communicate(), _CHILD_TIMEOUT_S)
    if child.returncode != 0:
        raise RuntimeError(f"the {variant} child failed with exit status {child.returncode}")
    figures: dict[str, Any] = json.loads(out)
    return figures


async def measure(size_mib: int) -> Report:
    """Serve one result of `size_mib` MiB, download it in each variant's own child process."""
    size_bytes = size_mib * MIB
    report = Report("download_memory", {"result_size_mib": size_mib, "variants": list(VARIANTS)})
    options = ("--result-size-bytes", str(size_bytes), "--submitted-s", "0.01")
    async with FakeHost(*options, "--processing-s", "0.05") as base_url:
        for variant in VARIANTS:
            log.info("download_memory: %s, %d MiB", variant, size_mib)
            report.figures[variant] = await _run_variant(variant, base_url, size_bytes)
    streamed = report.figures["streamed"]
    report.targets = [
        Target("streamed download adds to the process", streamed["growth_mib"], "<", 20, "MiB"),
        Target("streamed file is complete", streamed["bytes_on_disk"], ">=", size_bytes, "bytes"),
    ]
    report.notes = ["each variant ran in a fresh process; the fake ran in another one."]
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: the report, or (with --child) one variant's figures as JSON."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=100)
    # Only the parent passes these, to its children.
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.child:
        figures = asyncio.run(run_child(args.child, args.base_url, args.size_mib * MIB))
        json.dump(figures, sys.stdout)
        return 0
    asyncio.run(measure(args.size_mib)).emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
