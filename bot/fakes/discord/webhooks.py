"""Token routes: the interaction callback, ``@original`` and followups (no bot token needed)."""

from __future__ import annotations

from aiohttp import web

from bot.fakes.discord.bodies import Body, read_body, validate_message
from bot.fakes.discord.interactions import (
    CALLBACK_AUTOCOMPLETE,
    CALLBACK_DEFERRED,
    CALLBACK_DEFERRED_UPDATE,
    CALLBACK_MESSAGE,
    CALLBACK_MODAL,
    CALLBACK_UPDATE,
    Ack,
    InteractionRecord,
    check_callback,
    check_token,
)
from bot.fakes.discord.messages import FLAG_EPHEMERAL, FLAG_LOADING, Message
from bot.fakes.discord.rest import API_PREFIX, snowflake_param
from bot.fakes.discord.state import FakeState, response_flags
from bot.fakes.discord.wire import PAYLOAD_KEY, DiscordError, invalid_form, json_response


class Webhooks:
    """Handlers for ``/interactions/{id}/{token}/callback`` and ``/webhooks/{app}/{token}``."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def add_routes(self, app: web.Application) -> None:
        """Register the token routes under ``/api/v10``."""
        router = app.router
        router.add_post(
            API_PREFIX + "/interactions/{interaction_id}/{token}/callback", self.callback
        )
        router.add_post(API_PREFIX + "/webhooks/{app_id}/{token}", self.followup)
        message_path = API_PREFIX + "/webhooks/{app_id}/{token}/messages/{message_id}"
        router.add_get(message_path, self.get_message)
        router.add_patch(message_path, self.edit_message)
        router.add_delete(message_path, self.delete_message)

    async def callback(self, request: web.Request) -> web.Response:
        """The initial response: 200 JSON (discord.py always asks ``with_response=1``)."""
        now = self.state.clock.now()
        record = self.state.interactions.get(snowflake_param(request, "interaction_id"))
        if record is None or record.token != request.match_info["token"]:
            raise DiscordError(404, 10062)
        try:
            body = await self._body(request, record)
            callback_type = int(body.payload.get("type", 0))
            check_callback(record, callback_type, now)
            data = body.payload.get("data") or {}
            self._respond(record, callback_type, Body(payload=data, files=body.files))
        except DiscordError as error:
            record.errors.append(error)
            record.touch()
            raise
        ephemeral = record.original is not None and record.original.is_ephemeral
        record.ack = Ack(
            type=callback_type, latency_s=now - record.dispatched_at, ephemeral=ephemeral
        )
        record.touch()
        if request.rel_url.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        answer: dict[str, object] = {
            "interaction": {"id": str(record.id), "type": record.type},
        }
        if record.original is not None and callback_type != CALLBACK_DEFERRED_UPDATE:
            answer["interaction"] = {
                "id": str(record.id),
                "type": record.type,
                "response_message_id": str(record.original.id),
                "response_message_loading": record.original.is_loading,
                "response_message_ephemeral": record.original.is_ephemeral,
            }
            answer["resource"] = {
                "type": callback_type,
                "message": self.state.message_payload(record.original),
            }
        return json_response(answer)

    def _respond(self, record: InteractionRecord, callback_type: int, body: Body) -> None:
        data = body.payload
        if callback_type == CALLBACK_MESSAGE:
            record.original = self._post(record, body, response_flags(data))
        elif callback_type == CALLBACK_DEFERRED:
            if set(data) - {"flags"} or int(data.get("flags") or 0) & ~FLAG_EPHEMERAL:
                # With type 5 the only thing you may set is the EPHEMERAL flag.
                raise invalid_form("data", "INTERACTION_DEFERRED_DATA", "Only flags 64 allowed")
            record.original = self._post(
                record, Body(), FLAG_LOADING | response_flags(data), validate=False
            )
        elif callback_type in (CALLBACK_DEFERRED_UPDATE, CALLBACK_UPDATE):
            # A component's interaction: its `@original` is the message that was clicked.
            clicked = record.message
            if clicked is None or clicked.deleted:
                raise DiscordError(404, 10008)
            if callback_type == CALLBACK_UPDATE:
                self.state.edit_message(clicked, body)
            record.original = clicked
        elif callback_type == CALLBACK_MODAL:
            _validate_modal(data)
            record.modal = data
        elif callback_type == CALLBACK_AUTOCOMPLETE:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise invalid_form("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
            record.choices = list(choices)

    def _post(
        self, record: InteractionRecord, body: Body, flags: int, *, validate: bool = True
    ) -> Message:
        message = self.state.post_message(
            record.guild,
            record.channel,
            self.state.world.bot,
            body,
            interaction=record,
            extra_flags=flags,
            validate=validate,
        )
        record.touch()
        return message

    def _record(self, request: web.Request) -> InteractionRecord:
        if snowflake_param(request, "app_id") != self.state.world.app_id:
            raise DiscordError(404, 10015)
        record = self.state.interactions_by_token.get(request.match_info["token"])
        return check_token(record, self.state.clock.now())

    def _message(self, request: web.Request, record: InteractionRecord) -> Message:
        key = request.match_info["message_id"]
        if key == "@original":
            if record.original is None or record.original.deleted:
                raise DiscordError(404, 10008)
            return record.original
        wanted = snowflake_param(request, "message_id")
        for message in record.messages:
            if message.id == wanted:
                return message
        raise DiscordError(404, 10008)

    async def followup(self, request: web.Request) -> web.Response:
        """A followup; the first one after a defer fills the "thinking…" message instead."""
        record = self._record(request)
        try:
            body = await self._body(request, record)
            original = record.original
            if original is not None and original.is_loading and not record.followups:
                # Discord's deprecated behaviour: this edits the deferred placeholder.
                validate_message(body.payload, file_count=len(body.files), require_content=True)
                message = self.state.edit_message(original, body)
            else:
                message = self._post(record, body, response_flags(body.payload))
                record.followups.append(message)
        except DiscordError as error:
            record.errors.append(error)
            raise
        finally:
            record.touch()
        if request.rel_url.query.get("wait") not in ("1", "true", "True"):
            return web.Response(status=204)
        return json_response(self.state.message_payload(message))

    async def get_message(self, request: web.Request) -> web.Response:
        """``@original`` or a followup."""
        record = self._record(request)
        return json_response(self.state.message_payload(self._message(request, record)))

    async def edit_message(self, request: web.Request) -> web.Response:
        """Edit ``@original`` (clears the loading state) or a followup."""
        record = self._record(request)
        try:
            message = self._message(request, record)
            body = await self._body(request, record)
            self.state.edit_message(message, body)
        except DiscordError as error:
            record.errors.append(error)
            raise
        finally:
            record.touch()
        return json_response(self.state.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        """Delete ``@original`` or a followup."""
        record = self._record(request)
        self.state.delete_message(self._message(request, record))
        record.touch()
        return web.Response(status=204)

    async def _body(self, request: web.Request, record: InteractionRecord) -> Body:
        limit = int(record.payload["attachment_size_limit"])
        body = await read_body(
            request, per_file_limit=limit, keep_bytes=self.state.keep_upload_bytes
        )
        request[PAYLOAD_KEY] = body.payload
        return body


def _validate_modal(data: dict[str, object]) -> None:
    custom_id = data.get("custom_id")
    title = data.get("title")
    components = data.get("components")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
        raise invalid_form("data.custom_id", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long.")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        raise invalid_form("data.title", "BASE_TYPE_BAD_LENGTH", "Must be 1-45 long.")
    if not isinstance(components, list) or not 1 <= len(components) <= 5:
        raise invalid_form("data.components", "BASE_TYPE_BAD_LENGTH", "Must be 1-5 long.")
