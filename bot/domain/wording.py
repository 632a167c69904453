"""Words and numbers as a member reads them: sizes, durations, text cut to a limit without
breaking a mention or a glyph, links to messages. Pure.
"""

from __future__ import annotations

import unicodedata

# Code points that glue the glyphs around them: a cut never falls next to one.
_JOINERS = frozenset({"\u200d", "\ufe0e", "\ufe0f"})


# Categories that show nothing on their own: controls, format characters (zero-width space,
# joiners, BOM, direction marks, tags), separators, unassigned and surrogate code points, and
# combining marks (variation selectors among them), which need a letter to sit on.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters and symbols that are drawn blank: Hangul fillers, the blank Braille pattern.
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def has_visible_text(text: str) -> bool:
    """Whether any character of `text` shows: a prompt of zero-width spaces says nothing."""
    return any(
        not char.isspace()
        and char not in _BLANK_CHARACTERS
        and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
        for char in text
    )


def human_size(size_bytes: int, *, decimals: int = 1) -> str:
    """`850 B`, `12.3 KiB`, `10 MiB`, `1.5 GiB` (binary units, as Discord's limits are)."""
    if size_bytes < 1024:
        return f"{size_bytes} B"
    value = float(size_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if round(value, decimals) < 1024:
            return f"{_decimal(value, decimals)} {unit}"
    return f"{_decimal(value / 1024, decimals)} TiB"


def _decimal(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def human_sizes_apart(size_bytes: int, other_bytes: int) -> tuple[str, str]:
    """Two sizes written so that different ones never read alike: `10.04 MiB` vs `10 MiB`,
    or in bytes when even two decimals round them together (10 MiB + 1 byte vs 10 MiB)."""
    for decimals in (1, 2):
        pair = human_size(size_bytes, decimals=decimals), human_size(other_bytes, decimals=decimals)
        if pair[0] != pair[1] or size_bytes == other_bytes:
            return pair
    return f"{size_bytes:,} bytes", f"{other_bytes:,} bytes"


def human_duration(seconds: float) -> str:
    """`45 s`, `2 min 5 s`, `1 h 3 min`, `2 d 4 h`: two units at most, whole seconds."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [(days, "d"), (hours, "h")]
    elif hours:
        parts = [(hours, "h"), (minutes, "min")]
    elif minutes:
        parts = [(minutes, "min"), (secs, "s")]
    else:
        return f"{secs} s"
    return " ".join(f"{n} {unit}" for n, unit in parts if n)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters with an ellipsis, without splitting a mention,
    a glyph built of several code points, or (when one is near) a word."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = limit - 1  # room for the ellipsis
    opening = text.rfind("<", max(0, cut - 40), cut)
    if opening != -1 and text.find(">", opening, cut) == -1:
        while opening > 0 and text[opening - 1] == "<":
            opening -= 1
        cut = opening  # never leave half of `<@123…>` or `<<<image_1>>>`
    elif not text[cut].isspace():
        space = text.rfind(" ", max(0, cut - 64), cut)
        if space > cut // 2:
            cut = space
    while cut > 0 and (
        text[cut] in _JOINERS or unicodedata.combining(text[cut]) or text[cut - 1] in _JOINERS
    ):
        cut -= 1
    return text[:cut].rstrip() + "…"


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    """The link that opens a message in the Discord client."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def plural(count: int, noun: str) -> str:
    """`1 credit`, `2 credits`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
