"""What looks like a credential, so a value an operator wrote can be shown without leaking one.

`kling-bot check` echoes the values it refuses; a secret pasted into the wrong key (a CometAPI
key in `omni.base_url`, a Discord token in `guild_ids`) must not be echoed with them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# A Discord bot token: three base64url parts joined by dots (user id, timestamp, HMAC).
_DISCORD_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")
# A CometAPI (OpenAI-style) key: sk-, sk-live-, sk-proj-…
_SK_KEY = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{4,}")
# A long random-looking run: upper case, lower case and digits mixed, 32 characters or more.
_RANDOM_RUN = re.compile(r"[A-Za-z0-9_-]{32,}")
# The password of a URL's user info: postgresql://user:PASSWORD@host/db (also with one slash,
# as pathlib writes a URL it was given as a path). Up to the last @, in case one was not escaped.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:/{1,2}[^\s/:@'\"]*:)([^\s'\"]+)(@)")
# A secret in a query string or a key=value option: ?password=…, &sslpassword=…, ?api_key=…
_PARAMETER = re.compile(r"(?i)((?:password|passwd|pwd|token|secret|key)=)([^&;\s'\"]+)()")

MASK = "***"


def _strings(value: object) -> Iterable[str]:
    """Every string inside a value read from TOML (nested lists and tables included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def _is_random_run(text: str) -> bool:
    return any(
        re.search("[a-z]", run) and re.search("[A-Z]", run) and re.search("[0-9]", run)
        for run in _RANDOM_RUN.findall(text)
    )


def looks_like_credential(value: object, known_secrets: Iterable[str] = ()) -> bool:
    """Whether a value holds something that looks like a token or key, or a known secret."""
    secrets = [s for s in known_secrets if len(s) >= 4]
    for text in _strings(value):
        if _DISCORD_TOKEN.search(text) or _SK_KEY.search(text) or _is_random_run(text):
            return True
        if any(secret in text for secret in secrets):
            return True
    return False


def mask_passwords(text: str) -> str:
    """`text` with URL passwords (`scheme://user:***@`) and `password=`-like values masked."""
    for pattern in (_URL_PASSWORD, _PARAMETER):
        text = pattern.sub(rf"\g<1>{MASK}\g<3>", text)
    return text
