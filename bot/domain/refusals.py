"""Turning pydantic's validation errors into the one sentence a member reads.

The cross-field rules of `OmniRequest` already speak in sentences (`omni_rule` errors); this
covers the field-level ones (a wrong choice, a missing field, a number that is not one), naming
the option as the member typed it and what is allowed.
"""

from __future__ import annotations

from pydantic import ValidationError

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
            words.append(_FIELD_NAMES.get(part, part))
    return " ".join(words) if words else "request"


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
        return f"`{label}` {value!r} is not allowed: use {allowed}."
    if kind == "extra_forbidden":
        return f"`{label}` is not a setting of a video request."
    if kind == "missing":
        return f"`{label}` is required."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"`{label}` must be a whole number, not {value!r}."
    if kind in ("bool_parsing", "bool_type"):
        return f"`{label}` must be true or false, not {value!r}."
    if kind == "greater_than":
        return f"`{label}` must be greater than {ctx.get('gt')}."
    if kind in ("string_too_short", "too_short"):
        return f"`{label}` is empty."
    return f"`{label}`: {error['msg']}."
