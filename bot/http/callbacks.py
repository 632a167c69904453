"""`POST /omni/callback/<token>`: Kling (through CometAPI) says a task changed.

Every answer is fast and changes nothing by itself. A callback is a hint: the token must be one
the bot handed out (an HMAC of the task's external id, `bot.domain.callback_tokens`), the body
must not name another task, and the task must still be live; then the tracker asks the API about
that task at once and acts on the query's answer, never on the callback's. Anything else is refused
(403: forged or replayed; 400: not a task at all). Repeats, callbacks out of order and lost ones
are harmless: a repeat brings no news, an old status is no news, and polling stays as a sparse
safety net for the lost.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.domain.callback_tokens import CallbackSigner
from bot.domain.lifecycle import TaskState
from bot.domain.logs import task_scope
from bot.domain.records import TaskRecord
from bot.engine.task_engine import TaskEngine
from bot.omni.wire import CallbackHint, parse_callback

log = logging.getLogger(__name__)

CALLBACK_PATH = "/omni/callback"
_MAX_BODY_BYTES = 256 * 1024  # a task object is well under a kilobyte


class CallbackReceiver:
    """Checks callbacks and hands the genuine ones to the engine as hints."""

    def __init__(self, signer: CallbackSigner, engine: TaskEngine) -> None:
        self._signer = signer
        self._engine = engine

    def add_routes(self, app: web.Application) -> None:
        """Serve `POST /omni/callback/{token}`."""
        app.router.add_post(CALLBACK_PATH + "/{token}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer at once; a genuine callback about a live task makes the tracker ask now."""
        telemetry = self._engine.telemetry
        external_id = self._signer.verify(request.match_info["token"])
        if external_id is None:
            telemetry.callback_received("forbidden")
            log.warning("callback refused: a token the bot did not make (from %s)", request.remote)
            return _answer(403, "forbidden")
        hint = await _read_hint(request)
        if hint is None:
            telemetry.callback_received("malformed")
            log.warning("callback refused: not a task object (external_id=%s)", external_id)
            return _answer(400, "not a task")
        task = await self._engine.store.task_by_external_id(external_id)
        refusal = _refusal(task, external_id, hint)
        if refusal is not None or task is None:
            telemetry.callback_received("forbidden")
            log.warning("callback refused (external_id=%s): %s", external_id, refusal)
            return _answer(403, "forbidden")
        with task_scope(task.log_context):
            is_asked = self._engine.hint(task, hint.status)
            telemetry.callback_received("accepted")
            claimed = "?" if hint.status is None else hint.status.value
            log.info(
                "callback %s: says %s; %s",
                task.log_context,
                claimed,
                "asking the API now" if is_asked else "no news",
            )
        return _answer(200, "ok")


def _refusal(task: TaskRecord | None, external_id: str, hint: CallbackHint) -> str | None:
    """Why a well-signed callback is still refused, or None to take it."""
    if task is None:
        return "no such task"
    if hint.external_task_id is not None and hint.external_task_id != external_id:
        return f"its body names another task ({hint.external_task_id})"
    if hint.task_id is not None and task.api_task_id not in (None, hint.task_id):
        return f"its body names another API task ({hint.task_id})"
    if task.is_terminal or task.state is TaskState.QUEUED:
        return f"the task is {task.state.value}: nothing to learn (a replay?)"
    return None


async def _read_hint(request: web.Request) -> CallbackHint | None:
    if request.content_length is not None and request.content_length > _MAX_BODY_BYTES:
        return None
    raw = await request.content.read(_MAX_BODY_BYTES + 1)
    if len(raw) > _MAX_BODY_BYTES:
        return None
    try:
        return parse_callback(json.loads(raw))
    except ValueError:  # not JSON (or not UTF-8), or not a task
        return None


def _answer(status: int, word: str) -> web.Response:
    return web.json_response({"status": word}, status=status)
