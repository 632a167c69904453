"""The bot's invite link: the `bot` and `applications.commands` scopes, exactly the permissions
the bot uses and nothing more. Pure: the start-up line and a wrong `discord.guild_ids` print it.
"""

from __future__ import annotations

from urllib.parse import urlencode

AUTHORIZE_URL = "https://discord.com/oauth2/authorize"
SCOPES = ("bot", "applications.commands")
# Discord's permission bits (https://discord.com/developers/docs/topics/permissions), as the
# server settings name them.
PERMISSIONS: dict[str, int] = {
    "View Channel": 1 << 10,  # see the channel a command came from
    "Send Messages": 1 << 11,  # the result message
    "Send Messages in Threads": 1 << 38,  # … when the command came from a thread
    "Embed Links": 1 << 14,  # status embeds, and a link when the video is too large to attach
    "Attach Files": 1 << 15,  # the MP4, and a member's clip lent to Kling
    "Add Reactions": 1 << 6,  # 🔁 on every result
    "Read Message History": 1 << 16,  # reply to the status message; find an earlier post
}
PERMISSIONS_VALUE = sum(PERMISSIONS.values())


def invite_url(application_id: int) -> str:
    """The URL that adds the bot to a server with the scopes and permissions it needs."""
    query = urlencode(
        {
            "client_id": str(application_id),
            "permissions": str(PERMISSIONS_VALUE),
            "scope": " ".join(SCOPES),
        }
    )
    return f"{AUTHORIZE_URL}?{query}"
