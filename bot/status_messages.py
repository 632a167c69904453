"""Status messages: the embed that follows a task, edited as its state changes.

Edits go through the channel with the bot token, never the interaction token (it dies after 15
minutes). Edits are coalesced per task and spaced out; a final state is shown at once and last.
A final state Discord refuses (a moderator's overwrite for a minute, an outage) is tried again
with backoff, and the store remembers it until it is shown: the next start shows it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import discord

from bot.cancellation import CancelStep, cancel_step
from bot.discord_delivery import TRANSIENT_ERRORS
from bot.engine import utc_now
from bot.errors import TaskNotFound
from bot.lifecycle import TaskState
from bot.records import TaskRecord
from bot.render import StatusView, position_worth_an_edit, rendering_progress, status_view
from bot.store import TaskStore
from bot.submitter import Backoff

log = logging.getLogger("bot.status_messages")

Positions = Callable[[], Awaitable[dict[int, int]]]
Estimates = Callable[[TaskRecord], Awaitable[float | None]]
MAX_POSITION_EDITS_PER_PASS = 10  # status edits for "your place in line moved", per pass
POSITIONS_TTL_S = 0.5  # one queue-order computation serves the edits of a short burst
_FINISHED_MEMORY = 10_000  # task ids whose final state was shown; enough to outlast stragglers
EDIT_TRIES = 3  # edits of one passing state that fail before it is left as it is
FINAL_EDIT_TRIES = 12  # a final state: about half an hour of tries, then again at the next start
FINAL_BACKOFF = Backoff(initial_s=5.0, max_s=300.0)


def status_embed(view: StatusView) -> discord.Embed:
    """The discord.py embed for a rendered status view."""
    embed = discord.Embed(
        title=view.title,
        description=view.description or None,
        colour=discord.Colour(view.colour),
        timestamp=view.timestamp,
    )
    for field in view.fields:
        embed.add_field(name=field.name, value=field.value, inline=field.inline)
    embed.set_footer(text=view.footer)
    return embed


class StatusUpdater:
    """Keeps each task's status message current: at most one edit per task every
    `min_interval_s`, always the latest state, the final state promptly and last."""

    def __init__(
        self,
        client: discord.Client,
        store: TaskStore,
        positions: Positions,
        *,
        min_interval_s: float = 3.0,
        now: Callable[[], datetime] = utc_now,
        close_timeout_s: float = 10.0,
        backoff: Backoff = FINAL_BACKOFF,
        rng: random.Random | None = None,
        estimates: Estimates | None = None,
    ) -> None:
        self._client = client
        self._estimates = estimates  # how long a render takes, for the progress bar
        self._store = store
        self._positions = positions
        self._min_interval_s = min_interval_s
        self._now = now
        self._close_timeout_s = close_timeout_s
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._jobs: dict[int, asyncio.Task[None]] = {}  # one editing job per task at a time
        self._dirty: set[int] = set()  # tasks whose message may be behind the store
        self._urgent: set[int] = set()  # ...and whose new state is final: don't wait
        self._wake: dict[int, asyncio.Event] = {}
        self._last_edit_at: dict[int, float] = {}  # loop time
        self._shown: dict[int, tuple[object, ...]] = {}  # what each message shows now
        self._shown_positions: dict[int, int | None] = {}  # queued tasks, as last shown
        # What each task's failing edit tried to show, and how often it failed: another state
        # starts its own count, so a passing hiccup never uses up the final state's tries.
        self._failed_edits: dict[int, tuple[tuple[object, ...], int]] = {}
        self._retry_at: dict[int, float] = {}  # loop time of a failed final edit's next try
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._positions_wanted = False
        self._positions_job: asyncio.Task[None] | None = None
        self._positions_cache: tuple[float, dict[int, int]] | None = None
        self._closed = False

    async def task_changed(self, task: TaskRecord) -> None:
        """Schedule an edit of the task's status message; never raises."""
        try:
            if self._closed or task.id in self._finished:
                return
            self._request(task.id, urgent=task.is_terminal)
            if self._shown_positions:
                # Anyone joining or leaving the line moves the others in it.
                self._want_positions()
        except Exception:
            log.exception("status update not scheduled for task_id=%s", task.id)

    def refresh(self, task_id: int) -> None:
        """Show the task again, even when its final state was shown (its result was removed)."""
        self._finished.pop(task_id, None)
        self._shown.pop(task_id, None)
        self._request(task_id, urgent=True)

    async def resume(self) -> None:
        """After a start: show the final states left unshown, and every queued task's place."""
        for task_id in await self._store.final_status_pending():
            self._request(task_id, urgent=True)
        unfinished = [s for s in TaskState if not s.is_terminal]
        for task in await self._store.tasks_in_states(unfinished):
            if task.status_message_id is None:
                continue
            if task.state is TaskState.QUEUED:
                # What the message shows is unknown: the positions pass re-shows it.
                self._shown_positions[task.id] = None
            else:
                self._request(task.id, urgent=False)
        if self._shown_positions:
            self._want_positions()

    async def close(self) -> None:
        """Flush pending edits (final states above all) now, then stop."""
        self._closed = True
        if self._positions_job is not None:
            self._positions_job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._positions_job
        for event in self._wake.values():
            event.set()
        jobs = list(self._jobs.values())
        if not jobs:
            return
        _, late = await asyncio.wait(jobs, timeout=self._close_timeout_s)
        for job in late:
            job.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    # -- one job per task -------------------------------------------------------------------

    def _request(self, task_id: int, *, urgent: bool) -> None:
        self._dirty.add(task_id)
        if urgent:
            self._urgent.add(task_id)
            if (event := self._wake.get(task_id)) is not None:
                event.set()
        if task_id not in self._jobs:
            self._jobs[task_id] = asyncio.create_task(self._run(task_id), name=f"status-{task_id}")

    async def _run(self, task_id: int) -> None:
        try:
            while task_id in self._dirty:
                delay = self._delay(task_id)
                if delay > 0:
                    await self._sleep(task_id, delay)
                    continue
                self._dirty.discard(task_id)
                self._urgent.discard(task_id)
                self._retry_at.pop(task_id, None)
                try:
                    is_done = await self._show(task_id)
                except Exception:
                    log.exception("status edit failed for task_id=%s", task_id)
                    is_done = False
                if is_done:
                    self._forget(task_id)
                    return
        finally:
            self._jobs.pop(task_id, None)
            self._wake.pop(task_id, None)

    def _delay(self, task_id: int) -> float:
        now = asyncio.get_running_loop().time()
        if self._closed:
            return 0.0
        retry_at = self._retry_at.get(task_id)
        if retry_at is not None:
            return retry_at - now  # a refused final state waits out its backoff
        last = self._last_edit_at.get(task_id)
        if last is None or task_id in self._urgent:
            return 0.0
        return last + self._min_interval_s - now

    async def _sleep(self, task_id: int, delay: float) -> None:
        event = self._wake.setdefault(task_id, asyncio.Event())
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), delay)

    async def _show(self, task_id: int) -> bool:
        """Render the task as the store has it now; True when nothing more will be shown."""
        try:
            # Re-read: notifications may arrive out of order, the store never goes back.
            task = await self._store.get_task(task_id)
        except TaskNotFound:
            return True
        if task.status_message_id is None or task.channel_id is None:
            return task.is_terminal  # no message (yet): the cog posts one and notifies again
        position = await self._position_of(task)
        expected_s = None if self._estimates is None else await self._estimates(task)
        shown: tuple[object, ...] = (
            rendering_progress(task, self._now(), expected_s),
            task.state,
            position,
            task.progress_pct,
            task.attempts,
            task.failure_reason,
            task.delivery_message_id,
            task.status_message_id,
            task.cancelled_by,
        )
        if self._shown.get(task.id) == shown:
            return task.is_terminal
        view = status_view(task, position=position, now=self._now(), expected_s=expected_s)
        channel = self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
        message = channel.get_partial_message(task.status_message_id)
        try:
            # Once there is nothing left to cancel, the Cancel button goes (view=None).
            extra: dict[str, Any] = {} if _can_cancel(task) else {"view": None}
            await message.edit(embed=status_embed(view), allowed_mentions=_NO_MENTIONS, **extra)
        except discord.NotFound:
            log.info("status message gone %s; no more edits", task.log_context)
            await self._store.final_status_shown(task.id)  # nothing left to show it in
            return True
        except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
            log.warning("status edit failed %s: %s", task.log_context, error)
            return self._after_failed_edit(
                task, shown, is_refused=isinstance(error, discord.Forbidden)
            )
        finally:
            self._last_edit_at[task.id] = asyncio.get_running_loop().time()
        self._failed_edits.pop(task.id, None)
        if task.is_terminal:
            await self._store.final_status_shown(task.id)
        self._shown[task.id] = shown
        if task.state is TaskState.QUEUED:
            self._shown_positions[task.id] = position
        else:
            self._shown_positions.pop(task.id, None)
        return task.is_terminal

    def _after_failed_edit(
        self, task: TaskRecord, shown: tuple[object, ...], *, is_refused: bool
    ) -> bool:
        """Schedule another try of a failed edit, or leave it; True when the job may end."""
        earlier = self._failed_edits.get(task.id)
        failures = earlier[1] + 1 if earlier is not None and earlier[0] == shown else 1
        if not task.is_terminal:
            # A passing state is tried again after the interval, but not after a refusal (each
            # counts towards Discord's invalid-request limit): the next state tries again.
            if is_refused or failures >= EDIT_TRIES:
                self._failed_edits.pop(task.id, None)
            else:
                self._failed_edits[task.id] = (shown, failures)
                self._dirty.add(task.id)
            return False
        if self._closed or failures >= FINAL_EDIT_TRIES:
            # The store still has it pending: the next start shows it.
            log.warning("final state not shown %s; shown at the next start", task.log_context)
            return True
        self._failed_edits[task.id] = (shown, failures)
        delay_s = self._backoff.delay_s(failures - 1, None, self._rng)
        self._retry_at[task.id] = asyncio.get_running_loop().time() + delay_s
        self._dirty.add(task.id)
        return False

    async def _position_of(self, task: TaskRecord) -> int | None:
        if task.state is not TaskState.QUEUED:
            return None
        try:
            return (await self._fresh_positions()).get(task.id)
        except Exception:
            log.warning("queue positions unavailable %s", task.log_context, exc_info=True)
            return None

    async def _fresh_positions(self) -> dict[int, int]:
        """The queue's order, computed at most once per short burst of edits."""
        now = asyncio.get_running_loop().time()
        ttl_s = min(POSITIONS_TTL_S, self._min_interval_s / 2)
        if self._positions_cache is None or now - self._positions_cache[0] > ttl_s:
            self._positions_cache = (now, await self._positions())
        return self._positions_cache[1]

    def _forget(self, task_id: int) -> None:
        self._finished[task_id] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)
        tables = (
            self._last_edit_at,
            self._shown,
            self._shown_positions,
            self._failed_edits,
            self._retry_at,
        )
        for table in tables:
            table.pop(task_id, None)
        self._dirty.discard(task_id)
        self._urgent.discard(task_id)

    # -- queue positions of the others --------------------------------------------------------

    def _want_positions(self) -> None:
        self._positions_wanted = True
        if self._positions_job is None:
            self._positions_job = asyncio.create_task(self._refresh_positions(), name="positions")

    async def _refresh_positions(self) -> None:
        """Re-show queued tasks whose place in line moved; one read per burst of changes."""
        try:
            while self._positions_wanted and not self._closed:
                self._positions_wanted = False
                await asyncio.sleep(self._min_interval_s)
                if not self._shown_positions:
                    continue
                self._positions_cache = None  # the line changed: read it afresh
                try:
                    positions = await self._fresh_positions()
                except Exception:
                    log.warning("queue positions unavailable", exc_info=True)
                    continue
                moved = [
                    (new, task_id)
                    for task_id, shown in self._shown_positions.items()
                    if (new := positions.get(task_id)) is not None
                    and position_worth_an_edit(shown, new)
                ]
                # Front of the line first; the rest catch up on later passes. Hundreds of edits
                # at once would spend the bot's global request budget that results need.
                for _, task_id in sorted(moved)[:MAX_POSITION_EDITS_PER_PASS]:
                    self._request(task_id, urgent=False)
                if len(moved) > MAX_POSITION_EDITS_PER_PASS:
                    self._positions_wanted = True
        finally:
            self._positions_job = None


_NO_MENTIONS = discord.AllowedMentions.none()


def _can_cancel(task: TaskRecord) -> bool:
    return cancel_step(task.state) in (CancelStep.END_NOW, CancelStep.MARK) and not (
        task.is_cancel_requested
    )
