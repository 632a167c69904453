"""FakeDiscord at the wire level (no discord.py): gateway opcodes, validation, token rules."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.fakes.discord import Attachment, FakeDiscord
from bot.fakes.discord.intents import INTENT_GUILD_MEMBERS

COMMANDS = [
    {
        "name": "ask",
        "description": "Ask something",
        "options": [
            {
                "name": "topic",
                "description": "Topic",
                "type": 3,
                "required": True,
                "autocomplete": True,
            },
            {"name": "file", "description": "A file", "type": 11},
        ],
    }
]


@pytest.fixture
async def http(fake_discord: FakeDiscord) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    async with aiohttp.ClientSession(fake_discord.base_url, headers=headers) as session:
        yield session


async def identify(
    http: aiohttp.ClientSession, fake: FakeDiscord, *, token: str | None = None, intents: int = 1025
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json&compress=zlib-stream")
    hello = await ws.receive_json()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    await ws.send_json({"op": 1, "d": None})
    assert (await ws.receive_json())["op"] == 11
    identify = {"token": token or fake.token, "intents": intents, "properties": {}}
    await ws.send_json({"op": 2, "d": identify})
    return ws


async def next_dispatch(ws: aiohttp.ClientWebSocketResponse, name: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = await asyncio.wait_for(ws.receive_json(), 5)
        if frame.get("t") == name:
            return frame


async def test_handshake_ready_guild_create_and_sequence(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    ws = await identify(http, fake_discord)
    ready = await next_dispatch(ws, "READY")
    guild = await next_dispatch(ws, "GUILD_CREATE")
    assert ready["s"] == 1 and guild["s"] == 2
    assert ready["d"]["resume_gateway_url"] == fake_discord.gateway_url
    assert {"roles", "flags", "user"} <= set(guild["d"]["members"][0])
    assert any(r["id"] == guild["d"]["id"] for r in guild["d"]["roles"])  # @everyone
    await ws.close()


@pytest.mark.parametrize(
    ("token", "intents", "close_code"),
    [("wrong", 1025, 4004), (None, 1025 | INTENT_GUILD_MEMBERS, 4014)],
)
async def test_identify_refusals_close_the_socket(
    http: aiohttp.ClientSession,
    fake_discord: FakeDiscord,
    token: str | None,
    intents: int,
    close_code: int,
) -> None:
    ws = await identify(http, fake_discord, token=token, intents=intents)
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == close_code


async def test_resume_of_an_unknown_session_is_invalid_session(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    ws = await http.ws_connect(fake_discord.gateway_url)
    await ws.receive_json()
    await ws.send_json({"op": 6, "d": {"token": fake_discord.token, "session_id": "x", "seq": 3}})
    assert await asyncio.wait_for(ws.receive_json(), 5) == {
        "op": 9,
        "d": False,
        "s": None,
        "t": None,
    }
    await ws.close()


async def test_responses_are_exactly_application_json_and_need_the_bot_token(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    async with http.get("/api/v10/users/@me") as response:
        assert response.headers["Content-Type"] == "application/json"
    async with http.get("/api/v10/users/@me", headers={"Authorization": "Bot nope"}) as response:
        assert response.status == 401 and (await response.json())["code"] == 0
    async with http.get("/api/v10/voice/regions") as response:
        assert response.status == 404
    assert fake_discord.requests()[-1].route == "<unmatched>"


@pytest.mark.parametrize(
    "command",
    [
        {"name": "Video", "description": "upper case"},
        {"name": "video", "description": ""},
        {
            "name": "video",
            "description": "d",
            "options": [{"name": f"o{i}", "description": "d", "type": 3} for i in range(26)],
        },
        {
            "name": "video",
            "description": "d",
            "options": [
                {
                    "name": "m",
                    "description": "d",
                    "type": 3,
                    "choices": [{"name": str(i), "value": str(i)} for i in range(26)],
                }
            ],
        },
        {
            "name": "video",
            "description": "d",
            "options": [
                {"name": "a", "description": "d", "type": 3},
                {"name": "b", "description": "d", "type": 3, "required": True},
            ],
        },
    ],
)
async def test_command_sync_validation(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord, command: dict[str, Any]
) -> None:
    url = f"/api/v10/applications/{fake_discord.world.app_id}/commands"
    async with http.put(url, json=[command]) as response:
        assert response.status == 400 and (await response.json())["code"] == 50035


async def started(
    http: aiohttp.ClientSession, fake: FakeDiscord
) -> aiohttp.ClientWebSocketResponse:
    ws = await identify(http, fake)
    await next_dispatch(ws, "GUILD_CREATE")
    url = f"/api/v10/applications/{fake.world.app_id}/guilds/{fake.default.guild.id}/commands"
    async with http.put(url, json=COMMANDS) as response:
        assert response.status == 200
    return ws


async def test_token_routes_before_ack_and_callback_limits(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    ws = await started(http, fake_discord)
    fake_discord.default.guild.upload_limit_bytes = 100
    itx = await fake_discord.member(fake_discord.default.alice).run("ask", topic="cats")
    sent = await next_dispatch(ws, "INTERACTION_CREATE")
    assert sent["d"]["attachment_size_limit"] == 100
    token, app_id = itx.record.token, fake_discord.world.app_id
    async with http.post(f"/api/v10/webhooks/{app_id}/{token}?wait=1", json={"content": "x"}) as r:
        assert (r.status, (await r.json())["code"]) == (404, 10015)
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"type": 4, "data": {"content": "big"}}))
    form.add_field("files[0]", b"\0" * 101, filename="a.bin")
    callback = f"/api/v10/interactions/{itx.id}/{token}/callback?with_response=1"
    async with http.post(callback, data=form) as r:
        assert (r.status, (await r.json())["code"]) == (413, 40005)
    async with http.post(callback, json={"type": 4, "data": {"content": ""}}) as r:
        assert (r.status, (await r.json())["code"]) == (400, 50006)
    async with http.post(callback, json={"type": 4, "data": {"content": "fine"}}) as r:
        body = await r.json()
        assert r.status == 200 and body["resource"]["message"]["content"] == "fine"
    original = f"/api/v10/webhooks/{app_id}/{token}/messages/@original"
    async with http.patch(original, json={"content": "edited"}) as r:
        assert r.status == 200
    async with http.post(f"/api/v10/webhooks/{app_id}/{token}?wait=1", json={"content": "f"}) as r:
        followup_id = (await r.json())["id"]
    async with http.delete(f"/api/v10/webhooks/{app_id}/{token}/messages/{followup_id}") as r:
        assert r.status == 204
    assert [m.content for m in itx.messages] == ["edited"]
    assert [v.content for v in itx.messages[0].history] == ["fine"]
    await ws.close()


async def test_autocomplete_and_modal_round_trip(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    ws = await started(http, fake_discord)
    member = fake_discord.member(fake_discord.default.bob)
    typing = await member.autocomplete("ask", focused="topic", topic="ca")
    sent = await next_dispatch(ws, "INTERACTION_CREATE")
    assert sent["d"]["type"] == 4
    assert sent["d"]["data"]["options"] == [
        {"name": "topic", "type": 3, "value": "ca", "focused": True}
    ]
    callback = f"/api/v10/interactions/{typing.id}/{typing.record.token}/callback"
    choices = [{"name": "cats", "value": "cats"}]
    async with http.post(callback, json={"type": 8, "data": {"choices": choices}}) as r:
        assert r.status == 204  # without with_response=1
    assert typing.choices == choices

    itx = await member.run("ask", topic="cats", file=Attachment("a.txt", b"hi"))
    await next_dispatch(ws, "INTERACTION_CREATE")
    modal = {
        "custom_id": "m",
        "title": "Tell me",
        "components": [
            {"type": 18, "label": "Why", "component": {"type": 4, "custom_id": "why", "style": 1}}
        ],
    }
    callback = f"/api/v10/interactions/{itx.id}/{itx.record.token}/callback?with_response=1"
    async with http.post(callback, json={"type": 9, "data": modal}) as r:
        assert r.status == 200
    submitted = await itx.submit_modal({"why": "because"})
    sent = await next_dispatch(ws, "INTERACTION_CREATE")
    assert sent["d"]["type"] == 5 and sent["d"]["id"] == str(submitted.id)
    assert sent["d"]["data"]["components"][0]["component"]["value"] == "because"
    await ws.close()


async def test_standalone_entry_point_prints_its_urls() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.fakes.discord",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":
            lines.append((await asyncio.wait_for(process.stdout.readline(), 10)).decode())
        info = json.loads("".join(lines))
        assert info["api_base"].startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(info["control"]) as response:
            assert (await response.json())["guilds"][0]["name"] == "Test Server"
    finally:
        process.terminate()
        await process.wait()


async def test_cdn_serves_files_from_disk_only_with_a_valid_signature(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0\0\0\x18ftypmp42" * 1000)
    ws = await started(http, fake_discord)
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "ask", topic="t", file=Attachment.from_path(path)
    )
    [sent] = itx.record.payload["data"]["resolved"]["attachments"].values()
    assert (sent["filename"], sent["size"], sent["content_type"]) == (
        "clip.mp4",
        12000,
        "video/mp4",
    )
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(sent["url"]) as response:
            assert response.status == 200 and await response.read() == path.read_bytes()
        async with anonymous.get(sent["url"].replace("hm=", "hm=0")) as response:
            assert response.status == 404
    await ws.close()


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("limit=0", "limit", "NUMBER_TYPE_MIN"),
        ("limit=101", "limit", "NUMBER_TYPE_MAX"),
        ("limit=many", "limit", "NUMBER_TYPE_COERCE"),
        ("before=abc", "before", "NUMBER_TYPE_COERCE"),
        ("before=1&after=2", "after", "BASE_TYPE_INVALID"),
        ("around=1&before=2", "before", "BASE_TYPE_INVALID"),
    ],
)
async def test_history_query_is_validated(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord, query: str, field: str, code: str
) -> None:
    url = f"/api/v10/channels/{fake_discord.default.general.id}/messages?{query}"
    async with http.get(url) as response:
        body = await response.json()
    assert (response.status, body["code"]) == (400, 50035)
    assert body["errors"][field]["_errors"][0]["code"] == code


async def test_history_defaults_to_fifty_newest_first(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    fake_discord.rate_limits = None  # 60 posts at once would be 429s: this is about the history
    url = f"/api/v10/channels/{fake_discord.default.general.id}/messages"
    for number in range(60):
        async with http.post(url, json={"content": f"m{number}"}) as response:
            assert response.status == 200
    async with http.get(url) as response:
        page = await response.json()
    assert [m["content"] for m in page] == [f"m{n}" for n in range(59, 9, -1)]


async def test_a_nonce_is_echoed_on_create_and_deduplicated_only_when_enforced(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    url = f"/api/v10/channels/{fake_discord.default.general.id}/messages"
    created = []
    for _ in range(2):
        async with http.post(url, json={"content": "hi", "nonce": 123}) as response:
            created.append(await response.json())
    assert created[0]["nonce"] == 123 and created[0]["id"] != created[1]["id"]
    # An enforced repeat finds a message sent earlier without enforce_nonce too.
    async with http.post(url, json={"content": "hi", "nonce": 123, "enforce_nonce": True}) as r:
        assert (await r.json())["id"] == created[1]["id"]
    async with http.get(f"{url}/{created[0]['id']}") as response:
        assert "nonce" not in await response.json()
    async with http.get(url) as response:
        assert all("nonce" not in m for m in await response.json())
    async with http.post(url, json={"content": "hi", "nonce": ["x"]}) as response:
        assert (response.status, (await response.json())["code"]) == (400, 50035)


async def test_a_channel_bucket_announces_its_budget_and_refuses_the_request_over_it(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    general = fake_discord.default.general
    other = fake_discord.add_channel("other")
    answers = []
    for number in range(6):
        async with http.post(
            f"/api/v10/channels/{general.id}/messages", json={"content": f"{number}"}
        ) as r:
            answers.append((r.status, dict(r.headers), await r.json()))
    first_headers = answers[0][1]
    assert first_headers["X-RateLimit-Limit"] == "5"
    assert [a[1]["X-RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert 0 < float(first_headers["X-RateLimit-Reset-After"]) <= 5
    assert float(first_headers["X-RateLimit-Reset"]) > 1_000_000_000  # epoch seconds
    status, headers, body = answers[5]
    assert status == 429 and headers["Via"] and headers["X-RateLimit-Scope"] == "user"
    assert body["global"] is False and 0 < body["retry_after"] <= 5
    assert len(fake_discord.channel_messages(general)) == 5  # the sixth was not posted
    # Counted per channel: another channel has its own budget, and edits their own bucket.
    async with http.post(f"/api/v10/channels/{other.id}/messages", json={"content": "x"}) as r:
        assert r.status == 200 and r.headers["X-RateLimit-Remaining"] == "4"
    message_id = fake_discord.channel_messages(general)[0].id
    url = f"/api/v10/channels/{general.id}/messages/{message_id}"
    async with http.patch(url, json={"content": "edited"}) as r:
        assert r.status == 200
        assert r.headers["X-RateLimit-Bucket"] != first_headers["X-RateLimit-Bucket"]


async def test_the_global_limit_answers_a_global_429(
    http: aiohttp.ClientSession, fake_discord: FakeDiscord
) -> None:
    statuses = []
    for _ in range(55):
        async with http.get("/api/v10/users/@me") as r:
            statuses.append(r.status)
            if r.status == 429:
                body = await r.json()
                assert body["global"] is True and r.headers["X-RateLimit-Global"] == "true"
    # 50 a second in all (the route's own bucket allows 50 too): some of the 55 were refused.
    assert statuses.count(200) <= 50 and 429 in statuses
