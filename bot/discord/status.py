"""Status messages: the embed that follows a task, edited as its state changes.

Edits go through the channel with the bot token, never the interaction token (it dies after 15
minutes). Edits are coalesced per task and paced per channel within the budget Discord announces
for the channel's edits (`edit_pacing.py`); a final state is shown at once and last.

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
from dataclasses import replace
from datetime import datetime
from typing import Any

import discord

from bot.discord.guilds import directory_of
from bot.discord.language import in_server_language
from bot.discord.pacing import EditKind, EditPacer, WantedEdit, choose_edit
from bot.discord.translate import status_embed
from bot.discord.uploads import TRANSIENT_ERRORS
from bot.domain.backoff import Backoff
from bot.domain.cancellation import can_still_cancel
from bot.domain.errors import TaskNotFound
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.engine.task_engine import utc_now
from bot.features.render import position_worth_an_edit, rendering_progress, shown_state, status_view
from bot.store import TaskStore

log = logging.getLogger(__name__)

Positions = Callable[[], Awaitable[dict[int, int]]]
Estimates = Callable[[TaskRecord], Awaitable[float | None]]
POSITIONS_TTL_S = 0.5  # one queue-order computation serves the edits of a short burst
_FINISHED_MEMORY = 10_000  # task ids whose final state was shown; enough to outlast stragglers
EDIT_TRIES = 3  # edits of one passing state that fail before it is left as it is
FINAL_EDIT_TRIES = 12  # a final state: about half an hour of tries, then again at the next start
FINAL_BACKOFF = Backoff(initial_s=5.0, max_s=300.0, jitter="equal")


class StatusUpdater:
    """Keeps each task's status message current, within each channel's rate-limit budget.

    One job per channel makes its edits, one at a time, as `edit_pacing.choose_edit` orders
    them: final states at once and last, then state changes (a message at most every
    `min_interval_s`), then queue positions, read once per pass for every channel.
    """

    def __init__(
        self,
        client: discord.Client,
        store: TaskStore,
        positions: Positions,
        *,
        min_interval_s: float = 3.0,
        now: Callable[[], datetime] = utc_now,
        close_timeout_s: float = 10.0,
        pacer: EditPacer | None = None,
        backoff: Backoff = FINAL_BACKOFF,
        rng: random.Random | None = None,
        estimates: Estimates | None = None,
    ) -> None:
        self._client = client
        self._guilds = directory_of(client)
        self._estimates = estimates  # how long a render takes, for the progress bar
        self._store = store
        self._positions = positions
        self._min_interval_s = min_interval_s
        self._now = now
        self._close_timeout_s = close_timeout_s
        self.pacer = pacer or EditPacer()
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._jobs: dict[int, asyncio.Task[None]] = {}  # channel id → its editing job
        self._wanted: dict[int, dict[int, WantedEdit]] = {}  # channel id → task id → edit
        self._wake: dict[int, asyncio.Event] = {}  # channel id → wakes its sleeping job
        self._channel_of: dict[int, int] = {}  # task id → channel id
        self._last_edit_at: dict[int, float] = {}  # task id → loop time
        self._shown: dict[int, tuple[object, ...]] = {}  # what each message shows now
        self._shown_positions: dict[int, int | None] = {}  # queued tasks, as last shown
        self._shown_progress: dict[int, object] = {}  # rendering tasks' bars, as last shown
        # What each task's failing edit tried to show, and how often it failed: another state
        # starts its own count, so a passing hiccup never uses up the final state's tries.
        self._failed_edits: dict[int, tuple[tuple[object, ...], int]] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._positions_wanted = False
        self._positions_job: asyncio.Task[None] | None = None
        self._positions_cache: tuple[float, dict[int, int]] | None = None
        self._closed = False

    def posted(self, task: TaskRecord, message_id: int) -> None:
        """Status message `message_id` showing `task` (with no place in line) was just posted.

        Nothing is edited for it until something changes: its place in line comes with the
        next positions pass, paced with the others in its channel.
        """
        if self._closed or task.channel_id is None:
            return
        self._shown[task.id] = shown_state(replace(task, status_message_id=message_id))
        self._channel_of[task.id] = task.channel_id
        if task.state is TaskState.QUEUED:
            self._shown_positions[task.id] = None
            self._want_positions()

    async def task_changed(self, task: TaskRecord) -> None:
        """Schedule an edit of the task's status message; never raises."""
        try:
            if self._closed or task.id in self._finished or task.channel_id is None:
                return
            if self._shown_positions:
                # Anyone joining or leaving the line moves the others in it.
                self._want_positions()
            if task.status_message_id is None:
                return  # no message yet: the cog posts one, and the store's record follows
            is_rendering = task.state is TaskState.PROCESSING  # its progress bar may move
            is_shown = self._shown.get(task.id) == shown_state(task)
            if is_shown and not task.is_terminal and not is_rendering:
                return  # the message shows this already (its place in line comes by pass)
            kind = EditKind.FINAL if task.is_terminal else EditKind.STATE
            self._want(task.id, task.channel_id, kind)
        except Exception:
            log.exception("status update not scheduled for task_id=%s", task.id)

    def refresh(self, task: TaskRecord) -> None:
        """Show the task again, even when its final state was shown (its result was removed)."""
        self._finished.pop(task.id, None)
        self._shown.pop(task.id, None)
        if not self._closed and task.channel_id is not None:
            self._want(task.id, task.channel_id, EditKind.FINAL)

    async def resume(self) -> None:
        """After a start: show the final states left unshown, and every queued task's place."""
        for task_id in await self._store.final_status_pending():
            try:
                task = await self._store.get_task(task_id)
            except TaskNotFound:
                await self._store.final_status_shown(task_id)
                continue
            if task.channel_id is not None:
                self._want(task.id, task.channel_id, EditKind.FINAL)
        unfinished = [s for s in TaskState if not s.is_terminal]
        for task in await self._store.tasks_in_states(unfinished):
            if task.status_message_id is None or task.channel_id is None:
                continue
            self._channel_of[task.id] = task.channel_id
            if task.state is TaskState.QUEUED:
                # What the message shows is unknown: the positions pass re-shows it.
                self._shown_positions[task.id] = None
            else:
                self._want(task.id, task.channel_id, EditKind.STATE)
        if self._shown_positions:
            self._want_positions()

    async def close(self) -> None:
        """Flush pending final and state edits now (positions are dropped), then stop."""
        self._closed = True
        if self._positions_job is not None:
            self._positions_job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._positions_job
        for wanted in self._wanted.values():
            for task_id in [t for t, w in wanted.items() if w.kind is EditKind.POSITION]:
                del wanted[task_id]
        for event in self._wake.values():
            event.set()
        jobs = list(self._jobs.values())
        if not jobs:
            return
        _, late = await asyncio.wait(jobs, timeout=self._close_timeout_s)
        for job in late:
            job.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    # -- one job per channel ----------------------------------------------------------------

    def _want(
        self,
        task_id: int,
        channel_id: int,
        kind: EditKind,
        *,
        position: int = 0,
        not_before: float = 0.0,
    ) -> None:
        loop_now = asyncio.get_running_loop().time()
        self._channel_of[task_id] = channel_id
        wanted = self._wanted.setdefault(channel_id, {})
        earlier = wanted.get(task_id)
        if earlier is not None and earlier.kind < kind:
            return  # a more urgent edit is already due; it shows the latest of everything
        asked_at = earlier.asked_at if earlier is not None else loop_now
        wanted[task_id] = WantedEdit(task_id, kind, asked_at, position, not_before)
        if channel_id not in self._jobs:
            self._jobs[channel_id] = asyncio.create_task(
                self._run(channel_id), name=f"status-channel-{channel_id}"
            )
        elif kind is not EditKind.POSITION and (event := self._wake.get(channel_id)):
            event.set()

    async def _run(self, channel_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while wanted := self._wanted.get(channel_id):
                now = loop.time()
                choice, ready_at = choose_edit(
                    wanted.values(),
                    channel_id=channel_id,
                    pacer=self.pacer,
                    last_edit_at=self._last_edit_at,
                    min_interval_s=self._min_interval_s,
                    now=now,
                    is_closing=self._closed,
                )
                if choice is None:
                    await self._sleep(channel_id, ready_at - now)
                    continue
                del wanted[choice.task_id]
                try:
                    is_done = await self._show(choice)
                except Exception:
                    log.exception("status edit failed for task_id=%s", choice.task_id)
                    is_done = False
                if is_done:
                    self._forget(choice.task_id)
        finally:
            self._jobs.pop(channel_id, None)
            self._wake.pop(channel_id, None)
            if not self._wanted.get(channel_id):
                self._wanted.pop(channel_id, None)

    async def _sleep(self, channel_id: int, delay: float) -> None:
        event = self._wake.setdefault(channel_id, asyncio.Event())
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, delay))

    async def _show(self, want: WantedEdit) -> bool:
        """Render the task as the store has it now; True when nothing more will be shown."""
        try:
            # Re-read: notifications may arrive out of order, the store never goes back.
            task = await self._store.get_task(want.task_id)
        except TaskNotFound:
            return True
        if task.status_message_id is None or task.channel_id is None:
            return task.is_terminal  # no message (yet): the cog posts one and notifies again
        position = await self._position_of(task, want)
        expected_s = None if self._estimates is None else await self._estimates(task)
        progress = rendering_progress(task, self._now(), expected_s)
        shown = (*shown_state(task), position, progress)
        was = (
            *self._shown.get(task.id, ()),
            self._shown_positions.get(task.id),
            self._shown_progress.get(task.id),
        )
        if was == shown:
            return task.is_terminal
        # A channel's message: in its server's language (the server may be another shard's).
        with in_server_language(await self._guilds.guild(task.guild_id)):
            view = status_view(task, position=position, now=self._now(), expected_s=expected_s)
        channel = self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
        message = channel.get_partial_message(task.status_message_id)
        loop = asyncio.get_running_loop()
        self.pacer.record(task.channel_id, want.kind, loop.time())
        try:
            # Once there is nothing left to cancel, the Cancel button goes (view=None).
            extra: dict[str, Any] = {} if can_still_cancel(task) else {"view": None}
            await message.edit(embed=status_embed(view), allowed_mentions=_NO_MENTIONS, **extra)
        except discord.NotFound:
            log.info("status message gone %s; no more edits", task.log_context)
            await self._store.final_status_shown(task.id)  # nothing left to show it in
            return True
        except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
            log.warning("status edit failed %s: %s", task.log_context, error)
            is_refused = isinstance(error, discord.Forbidden)
            return self._after_failed_edit(task, shown, want.kind, is_refused=is_refused)
        finally:
            self._last_edit_at[task.id] = loop.time()
        self._failed_edits.pop(task.id, None)
        if task.is_terminal:
            await self._store.final_status_shown(task.id)
        self._shown[task.id] = shown_state(task)
        self._shown_progress[task.id] = progress
        if task.state is TaskState.QUEUED:
            self._shown_positions[task.id] = position
        else:
            self._shown_positions.pop(task.id, None)
        return task.is_terminal

    def _after_failed_edit(
        self, task: TaskRecord, shown: tuple[object, ...], kind: EditKind, *, is_refused: bool
    ) -> bool:
        """Schedule another try of a failed edit, or leave it; True when the task is done."""
        assert task.channel_id is not None
        earlier = self._failed_edits.get(task.id)
        failures = earlier[1] + 1 if earlier is not None and earlier[0] == shown else 1
        loop_now = asyncio.get_running_loop().time()
        if not task.is_terminal:
            # A passing state is tried again after the interval, but not after a refusal (each
            # counts towards Discord's invalid-request limit): the next state tries again.
            if is_refused or failures >= EDIT_TRIES:
                self._failed_edits.pop(task.id, None)
            else:
                self._failed_edits[task.id] = (shown, failures)
                retry_at = loop_now + self._min_interval_s
                self._want(task.id, task.channel_id, kind, not_before=retry_at)
            return False
        if self._closed or failures >= FINAL_EDIT_TRIES:
            # The store still has it pending: the next start shows it.
            log.warning("final state not shown %s; shown at the next start", task.log_context)
            return True
        self._failed_edits[task.id] = (shown, failures)
        delay_s = self._backoff.delay_s(failures, random_unit=self._rng.random())
        self._want(task.id, task.channel_id, kind, not_before=loop_now + delay_s)
        return False

    async def _position_of(self, task: TaskRecord, want: WantedEdit) -> int | None:
        if task.state is not TaskState.QUEUED:
            return None
        if want.kind is EditKind.POSITION:
            return want.position  # from this pass's reading of the queue
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
        for table in (
            self._last_edit_at,
            self._shown,
            self._shown_positions,
            self._shown_progress,
            self._failed_edits,
            self._channel_of,
        ):
            table.pop(task_id, None)

    # -- queue positions of the others --------------------------------------------------------

    def _want_positions(self) -> None:
        self._positions_wanted = True
        if self._positions_job is None:
            self._positions_job = asyncio.create_task(self._refresh_positions(), name="positions")

    async def _refresh_positions(self) -> None:
        """Re-show queued tasks whose place in line moved: one read of the queue per pass for
        every channel, each channel's edits then paced by its own job."""
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
                for task_id, shown in list(self._shown_positions.items()):
                    new = positions.get(task_id)
                    channel_id = self._channel_of.get(task_id)
                    if new is None or channel_id is None:
                        continue
                    if position_worth_an_edit(shown, new):
                        self._want(task_id, channel_id, EditKind.POSITION, position=new)
                    else:
                        self._unwant_position(task_id, channel_id)
        finally:
            self._positions_job = None

    def _unwant_position(self, task_id: int, channel_id: int) -> None:
        """Drop a pending position edit: the task moved back to the place its message shows."""
        wanted = self._wanted.get(channel_id, {})
        pending = wanted.get(task_id)
        if pending is not None and pending.kind is EditKind.POSITION:
            del wanted[task_id]


_NO_MENTIONS = discord.AllowedMentions.none()
