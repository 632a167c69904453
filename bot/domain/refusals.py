"""Turning pydantic's validation errors into the one sentence a member reads.

The cross-field rules of `OmniRequest` already speak in sentences (`omni_rule` errors); this
covers the field-level ones (a wrong choice, a missing field, a number that is not one), naming
the option as the member typed it and what is allowed.
"""

from __future__ import annotations

from pydantic import ValidationError

from bot.domain.i18n import _, pgettext

_FIELD_NAMES = {
    "duration_s": "duration",
    "images": "image",
    "elements": "element",
    "videos": "video",
    "shots": "shot",
    "url": "url",
    "element_id": "element id",
}


def _field_label(loc: tuple[int | str, ...]) -> str:
    words: list[str] = []
    for part in loc:
        if isinstance(part, int):
            words.append(str(part + 1))
        else:
            # An option's name as the member's Discord shows it (the commands' own catalogue).
            words.append(pgettext("command", _FIELD_NAMES.get(part, part)))
    return " ".join(words) if words else _("request")


def describe_validation_error(exc: ValidationError) -> str:
    """One sentence for the first problem pydantic found, naming the field and what is allowed."""
    error = exc.errors(include_url=False)[0]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    label = _field_label(tuple(error["loc"]))
    value = error.get("input")
    if kind == "omni_rule":
        return str(error["msg"])
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace("'", "")
        return _("`{label}` {value} is not allowed: use {allowed}.").format(
            label=label, value=repr(value), allowed=allowed
        )
    if kind == "extra_forbidden":
        return _("`{label}` is not a setting of a video request.").format(label=label)
    if kind == "missing":
        return _("`{label}` is required.").format(label=label)
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("`{label}` must be a whole number, not {value}.").format(
            label=label, value=repr(value)
        )
    if kind in ("bool_parsing", "bool_type"):
        return _("`{label}` must be true or false, not {value}.").format(
            label=label, value=repr(value)
        )
    if kind == "greater_than":
        return _("`{label}` must be greater than {minimum}.").format(
            label=label, minimum=ctx.get("gt")
        )
    if kind in ("string_too_short", "too_short"):
        return _("`{label}` is empty.").format(label=label)
    return f"`{label}`: {error['msg']}."
