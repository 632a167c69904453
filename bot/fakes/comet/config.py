"""Behaviour switches of the fake CometAPI, mutable so a test can change them mid-run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bot.engine.clock import ScaledClock

QueryShape = Literal["native", "wrapper", "wrapper3", "random"]
CallbackShape = Literal["flat", "wrapped"]
QUERY_SHAPES: tuple[QueryShape, ...] = ("native", "wrapper", "wrapper3", "random")


@dataclass
class FakeCometConfig:
    """Everything the fake server decides with; read on every request, never cached."""

    api_key: str = "sk-fake-key"
    # Kling's per-account concurrency: a task holds a slot from create until it ends.
    max_concurrent_tasks: int = 5
    # T1 (submitted -> processing) and T2 (processing -> terminal), in seconds. A task keeps
    # the values current at its creation; `FakeCometAPI.set_timings` changes one task.
    submitted_s: float = 0.2
    processing_s: float = 0.6
    # Post-acceptance failures: a random share, and a prompt keyword that always fails.
    failure_rate: float = 0.0
    fail_keyword: str = "FAILME"
    failure_message: str = "Failure to pass the risk control system"
    # Input moderation at create time: HTTP 400 with Kling code 1301.
    moderation_keyword: str = "MODERATEME"
    query_shape: QueryShape = "native"
    # Kling says external_task_id is unique per account; the error for a duplicate is an
    # assumption (HTTP 400, code 1201): neither Kling nor CometAPI documents it.
    reject_duplicate_external_id: bool = True
    # Kling answers GET .../{external_task_id}; CometAPI answers task_not_exist.
    lookup_by_external_id: bool = True
    # new-api stores the result URL in the wrapper's fail_reason on success (U17).
    new_api_quirk: bool = False
    # Success reported with task_result {} (the client must treat it as a failure).
    succeed_without_video: bool = False
    # None serves the asset as is; an int pads the MP4 to exactly that many bytes.
    result_size_bytes: int | None = None
    # Share of requests answered with a random fault from the retryable menu (faults.py).
    fault_rate: float = 0.0
    # Seeds task IDs, outcomes, random shapes and random faults; read once, by FakeCometAPI().
    seed: int | None = None
    # Added before every answer, faults included.
    latency_s: float = 0.0
    # Fetch and check every video_url at create, as the real service does (loopback URLs only).
    fetch_videos: bool = True
    # Base of the result URLs; None uses the address the server is bound to.
    public_base_url: str | None = None
    # Callbacks to a create's callback_url at each status change: Kling's flat task object,
    # or the same wrapped in {code, message, request_id, data}; skipped altogether (a URL the
    # API can't reach); or each one late by callback_delay_s.
    callback_shape: CallbackShape = "flat"
    skip_callbacks: bool = False
    callback_delay_s: float = 0.0
    # The times the fake tells (created, updated, finished) are on this clock: a benchmark's
    # compressed one, the same as its engine's; None tells the real time.
    clock: ScaledClock | None = None
