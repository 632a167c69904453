"""The error vocabulary: what can go wrong, what a member reads, what the log says.

Every error the bot can raise on purpose derives from `KlingBotError`. `member_message` is the
sentence shown to a member or an operator; `str(error)` is the same sentence and never contains a
secret. One handler renders these; nobody formats an error by hand.
"""

from __future__ import annotations

import enum

from bot.domain.i18n import N_, _


class KlingBotError(Exception):
    """Base of every error the bot raises on purpose; carries the sentence a member reads."""

    def __init__(self, member_message: str) -> None:
        super().__init__(member_message)
        self.member_message = member_message


class InvalidInput(KlingBotError):
    """A member or operator asked for something the model or the bot does not allow."""


class ConfigError(KlingBotError):
    """The configuration is wrong; each problem names the key and what is allowed."""

    def __init__(self, member_message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(member_message)
        # Every mistake found, one line each (`check` prints them all at once).
        self.problems = problems or (member_message,)


class NotModerator(KlingBotError):
    """The action needs moderator rights the member does not have."""


class NotYours(KlingBotError):
    """The action is for the member who made the task (or a moderator), and this isn't them."""


class QuotaExceeded(KlingBotError):
    """The member has no credits left in the current window, or hit an in-flight cap."""


class MissingPermissions(KlingBotError):
    """The bot lacks a permission in the channel; the sentence names what to ask an admin for."""


class TaskNotFound(KlingBotError):
    """No task with that id exists (or the member may not see it)."""


class IllegalTransition(KlingBotError):
    """A task was asked to move to a state its current state cannot reach (a bug, not input)."""


class ApiErrorKind(enum.Enum):
    """What a failed CometAPI call means for the caller, whatever the envelope looked like."""

    AUTH = "auth"  # key missing/invalid, model not enabled, account blocked: operator must act
    OUT_OF_CREDIT = "out_of_credit"  # balance or resource pack used up
    INVALID_REQUEST = "invalid_request"  # the API refused the parameters
    MODERATED = "moderated"  # the prompt or an input was refused by content policy
    RATE_LIMITED = "rate_limited"  # 429, 1302, 1303: wait and try again; the task is not lost
    TRANSIENT = "transient"  # 5xx, 524, HTML error pages, malformed bodies on queries
    NOT_FOUND = "not_found"  # unknown task id on query
    AMBIGUOUS = "ambiguous"  # a create whose outcome is unknown: it may exist and be billed
    # A create refused because its external_task_id is taken: an earlier send of it landed.
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"  # anything else

    @property
    def is_retryable(self) -> bool:
        """True when the same request may simply be sent again later."""
        return self in (ApiErrorKind.RATE_LIMITED, ApiErrorKind.TRANSIENT)


# In English here; `_()` at the raise puts it in the language of whoever is answered.
_MEMBER_SENTENCES: dict[ApiErrorKind, str] = {
    ApiErrorKind.AUTH: N_(
        "The video service refused the bot's credentials. An admin needs to check "
        "the bot's API key."
    ),
    ApiErrorKind.OUT_OF_CREDIT: N_(
        "The video service account is out of credit. An admin needs to top it up."
    ),
    ApiErrorKind.INVALID_REQUEST: N_("The video service refused these settings"),
    ApiErrorKind.MODERATED: N_(
        "The prompt or an input was refused by the video service's content "
        "policy. Try rewording it."
    ),
    ApiErrorKind.RATE_LIMITED: N_(
        "The video service is busy right now; the task will wait its turn."
    ),
    ApiErrorKind.TRANSIENT: N_("The video service had a temporary problem."),
    ApiErrorKind.NOT_FOUND: N_("The video service does not know this task any more."),
    ApiErrorKind.AMBIGUOUS: N_("The video service did not confirm whether it accepted the task."),
    ApiErrorKind.DUPLICATE: N_("The video service already has this task from an earlier try."),
    ApiErrorKind.UNKNOWN: N_("The video service answered with an unexpected error."),
}


# What the operator's log says when the API refuses the key itself (HTTP 401/403, Kling 1000-1004).
API_KEY_HINT = "the API key was refused: check omni.api_key (or COMETAPI_KEY, which overrides it)"
_KEY_CODES = range(1000, 1005)


class ApiError(KlingBotError):
    """A CometAPI call failed; `kind` says what the caller should do about it."""

    def __init__(
        self,
        kind: ApiErrorKind,
        detail: str = "",
        *,
        http_status: int | None = None,
        api_code: int | str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        sentence = _(_MEMBER_SENTENCES[kind])
        if kind is ApiErrorKind.INVALID_REQUEST and detail:
            sentence = f"{sentence}: {detail}"
        elif kind is ApiErrorKind.INVALID_REQUEST:
            sentence = f"{sentence}."
        super().__init__(sentence)
        self.kind = kind
        self.detail = detail
        self.http_status = http_status
        self.api_code = api_code
        self.retry_after_s = retry_after_s

    @property
    def is_retryable(self) -> bool:
        """True when the same request may be sent again (never for an ambiguous create)."""
        return self.kind.is_retryable

    def log_line(self) -> str:
        """One line for the operator's log: kind, status, code and the API's own words."""
        parts = [f"kind={self.kind.value}"]
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        if self.api_code is not None:
            parts.append(f"code={self.api_code}")
        if self.retry_after_s is not None:
            parts.append(f"retry_after_s={self.retry_after_s:g}")
        if self.detail:
            parts.append(f"detail={self.detail!r}")
        if self.is_key_refused:
            parts.append(f"fix={API_KEY_HINT!r}")
        return " ".join(parts)

    @property
    def is_key_refused(self) -> bool:
        """The API refused the key itself (not the account, the model or the IP)."""
        if self.kind is not ApiErrorKind.AUTH:
            return False
        if isinstance(self.api_code, int):
            return self.api_code in _KEY_CODES
        return self.http_status in (401, 403)
