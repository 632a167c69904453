"""What a member reads from `/quota`, `/tasks` and `/task`: words, links, and Discord's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.quota import ResolvedLimit
from bot.domain.records import QuotaOverride, TaskEvent, TaskRecord
from bot.domain.wording import jump_url
from bot.features.quota_records import (
    LimitTarget,
    OverrideChange,
    OverrideListing,
    QuotaStatus,
    ResetResult,
)
from bot.features.render import (
    DESCRIPTION_MAX_CHARS,
    EMBED_MAX_CHARS,
    FIELD_VALUE_MAX_CHARS,
    StatusView,
)
from bot.features.render_lists import (
    limit_text,
    state_badge,
    target_mention,
    task_detail_view,
    task_line,
    task_list_view,
)
from bot.features.render_quotas import (
    cleared_text,
    default_set_text,
    override_list_view,
    override_set_text,
    quota_view,
    reset_text,
)
from bot.features.task_history import TaskDetail, TaskPage
from tests.helpers.tasks import CHANNEL, CREATED, GUILD, USER, make_task

S = TaskState
# The task the status embed's tests use: #42 of USER in GUILD/CHANNEL, "a paper boat in the rain".
NOW = CREATED + timedelta(minutes=3)
RESETS = datetime(2026, 3, 2, tzinfo=UTC)
ROLE = 444


def with_prompt(prompt: str, **changes: Any) -> TaskRecord:
    return make_task({"prompt": prompt, "aspect_ratio": "16:9"}, **changes)


def delivered(**changes: Any) -> TaskRecord:
    return make_task(
        state=S.DELIVERED,
        submitted_at=CREATED + timedelta(seconds=2),
        finished_at=CREATED + timedelta(seconds=95),
        delivery_message_id=999,
        **changes,
    )


def status(**changes: Any) -> QuotaStatus:
    base = QuotaStatus(
        guild_id=GUILD,
        user_id=USER,
        limit=5,
        window="day",
        source="config",
        source_role_id=None,
        used=2,
        window_start=RESETS - timedelta(days=1),
        resets_at=RESETS,
        in_flight=1,
        max_in_flight=2,
    )
    return replace(base, **changes)


def field(view: StatusView, name: str) -> str:
    return next(f.value for f in view.fields if f.name == name)


def within_limits(view: StatusView) -> None:
    assert len(view.description) <= DESCRIPTION_MAX_CHARS
    assert all(len(f.value) <= FIELD_VALUE_MAX_CHARS for f in view.fields)
    assert view.size <= EMBED_MAX_CHARS


# -- words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "window", "text"),
    [
        (None, "day", "unlimited"),
        (0, "week", "blocked (0 credits)"),
        (1, "week", "1 credit a week"),
        (30, "month", "30 credits a month"),
    ],
)
def test_limits_read_naturally(limit: int | None, window: Any, text: str) -> None:
    assert limit_text(limit, window) == text


def test_mentions_name_members_roles_and_everyone_without_a_ping() -> None:
    assert target_mention(LimitTarget("member", USER), GUILD) == f"<@{USER}>"
    assert target_mention(LimitTarget("role", ROLE), GUILD) == f"<@&{ROLE}>"
    everyone = target_mention(LimitTarget("role", GUILD), GUILD)
    assert "everyone" in everyone and "@everyone" not in everyone


def test_every_state_has_a_badge() -> None:
    assert state_badge(S.DELIVERED) == "✅ Delivered"
    assert all(state_badge(state) for state in S)


# -- /quota show ------------------------------------------------------------------------------


def test_a_members_own_quota() -> None:
    view = quota_view(status(), is_self=True)
    assert view.title == "📊 Your quota"
    assert view.description == "You have used **2 of 5 credits** today: **3 left**."
    assert field(view, "Limit") == "5 credits a day"
    assert field(view, "Set by") == "the bot's default"
    assert field(view, "In progress") == "1 of 2 at once"
    epoch = int(RESETS.timestamp())
    assert f"<t:{epoch}:R>" in field(view, "Window") and f"<t:{epoch}:f>" in field(view, "Window")
    within_limits(view)


def test_another_members_quota_names_them_and_the_deciding_role() -> None:
    view = quota_view(status(source="role", source_role_id=ROLE, used=5), is_self=False)
    assert view.description.startswith(f"<@{USER}> has used **5 of 5 credits**")
    assert "**0 left**" in view.description
    assert field(view, "Set by") == f"the <@&{ROLE}> role"


def test_unlimited_and_blocked_quotas() -> None:
    unlimited = quota_view(status(limit=None, source="member", used=7), is_self=True)
    assert unlimited.description == "You have used 7 credits today. There's no limit."
    assert field(unlimited, "Set by") == "a member override"
    blocked = quota_view(status(limit=0, used=0, source="server"), is_self=True)
    assert blocked.description == "You can't make videos on this server: the limit is 0 credits."
    assert field(blocked, "Set by") == "the server's default"


# -- /quota set, default, reset, clear ------------------------------------------------------------


def override(kind: Any, target_id: int, limit: int | None, window: Any = None) -> QuotaOverride:
    return QuotaOverride(GUILD, kind, target_id, limit, window, CREATED)


def test_the_answers_to_moderators() -> None:
    member = OverrideChange(override("member", USER, 1), "day")
    assert override_set_text(member) == (
        f"<@{USER}> now gets 1 credit a day. What they have used today counts towards it."
    )
    blocked = OverrideChange(override("member", USER, 0), "day")
    assert override_set_text(blocked) == f"<@{USER}> is now blocked: no videos (0 credits)."
    role = OverrideChange(override("role", ROLE, None), "week")
    assert override_set_text(role).startswith(f"Members with <@&{ROLE}> now have no limit, unless")
    assert default_set_text(ResolvedLimit(3, "week", "server")) == (
        "Members without an override now get 3 credits a week: that is the server's default."
    )
    reset = reset_text(ResetResult(2, status(used=1, in_flight=1)))
    assert reset == (
        f"Forgot 2 credits of <@{USER}>'s use today. They have 4 credits left. "
        "Videos still in progress (1) stay counted."
    )
    assert "no finished use" in reset_text(ResetResult(0, status(used=0, in_flight=0)))
    assert "nothing changed" in cleared_text(LimitTarget("role", ROLE), GUILD, removed=False)
    assert "Removed" in cleared_text(LimitTarget("member", USER), GUILD, removed=True)


# -- /quota list ------------------------------------------------------------------------------


def test_the_override_list() -> None:
    listing = OverrideListing(
        ResolvedLimit(5, "day", "server"),
        (override("member", USER, 0), override("role", ROLE, 10, "month")),
    )
    view = override_list_view(listing, GUILD)
    assert view.description.splitlines() == [
        "Everyone else: **5 credits a day** (set by the server).",
        "",
        "**Members**",
        f"<@{USER}> — blocked (0 credits)",
        "",
        "**Roles**",
        f"<@&{ROLE}> — 10 credits a month",
    ]


def test_an_empty_list_says_how_to_add_one() -> None:
    view = override_list_view(OverrideListing(ResolvedLimit(None, "day", "config"), ()), GUILD)
    assert "unlimited** (the bot's default)" in view.description
    assert "No overrides yet" in view.description


def test_a_huge_list_is_cut_with_a_count() -> None:
    overrides = tuple(override("member", 10**17 + n, n) for n in range(300))
    view = override_list_view(OverrideListing(ResolvedLimit(5, "day", "config"), overrides), GUILD)
    within_limits(view)
    assert view.description.splitlines()[-1].startswith("… and ")
    shown = view.description.count("<@")
    assert view.description.endswith(f"… and {300 - shown} more")


# -- /tasks ----------------------------------------------------------------------------------


def test_a_delivered_task_links_its_video() -> None:
    line = task_line(delivered())
    link = jump_url(GUILD, CHANNEL, 999)
    assert line == (
        f"`#42` ✅ Delivered · a paper boat in the rain · <t:{int(CREATED.timestamp())}:R> · "
        f"[video]({link})"
    )


def test_a_failed_task_says_why() -> None:
    line = task_line(make_task(state=S.FAILED, failure_reason="The prompt was refused."))
    assert line.startswith("`#42` ❌ Failed")
    assert line.endswith("The prompt was refused.")


def test_prompts_are_clipped_to_one_line_and_cannot_format_the_list() -> None:
    line = task_line(with_prompt("**bold** [x](http://e.com)\n`tick` " + "word " * 40))
    assert "\n" not in line
    assert "\\*\\*bold\\*\\* \\[x\\](http://e.com) \\`tick\\`" in line
    assert "…" in line


def test_a_storyboard_without_a_prompt_is_named_by_its_first_shot() -> None:
    storyboard = {
        "model": "kling-v3-omni",
        "multi_shot": True,
        "shot_type": "customize",
        "duration_s": 5,
        "aspect_ratio": "16:9",
        "shots": [
            {"prompt": "a dog by the sea", "duration_s": 2},
            {"prompt": "it runs along the beach", "duration_s": 3},
        ],
    }
    assert " · a dog by the sea · " in task_line(make_task(storyboard))


def test_a_page_of_tasks() -> None:
    page = TaskPage(USER, True, None, (delivered(), make_task(id=41)), has_more=True)
    view = task_list_view(page)
    assert view.title == "🎬 Your tasks"
    lines = view.description.splitlines()
    assert lines[0] == "Your latest tasks, newest first:"
    assert lines[2].startswith("`#42`") and lines[3].startswith("`#41`")
    assert view.footer.endswith(" · #42 to #41; the buttons show more")
    older = task_list_view(TaskPage(USER, True, None, (make_task(id=3),), False, has_newer=True))
    assert older.description.splitlines()[0] == "Your earlier tasks, newest first:"


def test_another_members_empty_filtered_page() -> None:
    view = task_list_view(TaskPage(USER, False, S.TIMED_OUT, (), has_more=False))
    assert view.title == "🎬 Tasks"
    assert view.description == f"<@{USER}> has no timed out tasks on this server yet."


def test_an_empty_own_page_points_at_video() -> None:
    view = task_list_view(TaskPage(USER, True, None, (), has_more=False))
    assert "`/video`" in view.description


# -- /task -----------------------------------------------------------------------------------


def event(n: int, before: TaskState | None, after: TaskState, detail: str = "") -> TaskEvent:
    return TaskEvent(n, 42, CREATED + timedelta(seconds=n), before, after, detail)


def test_one_task_in_full() -> None:
    events = (
        event(1, None, S.QUEUED),
        event(2, S.QUEUED, S.SUBMITTING),
        event(3, S.SUBMITTING, S.SUBMITTED, "api task 77"),
    )
    view = task_detail_view(TaskDetail(delivered(), events, 0), now=NOW)
    assert "a paper boat in the rain" in view.description
    assert field(view, "Took") == "1 min 35 s"
    timings = field(view, "Timings")
    assert f"<t:{int(CREATED.timestamp())}:f>" in timings and "Finished" in timings
    assert field(view, "Cost") == "1 credit"
    assert field(view, "Result") == f"[Jump to the video]({jump_url(GUILD, CHANNEL, 999)})"
    assert field(view, "History").splitlines()[1:] == [
        f"<t:{int(CREATED.timestamp()) + 2}:T> queued → submitting",
        f"<t:{int(CREATED.timestamp()) + 3}:T> submitting → submitted · api task 77",
    ]
    within_limits(view)


def test_a_failed_task_shows_its_reason_and_refund() -> None:
    task = make_task(state=S.TIMED_OUT, failure_reason="Kling took too long", finished_at=NOW)
    view = task_detail_view(TaskDetail(task, (event(1, None, S.QUEUED),), 0), now=NOW)
    assert "Kling took too long" in field(view, "Status")
    assert field(view, "Cost") == "1 credit, refunded"
    assert "Result" not in [f.name for f in view.fields]


def test_a_huge_task_stays_within_discords_limits() -> None:
    events = tuple(
        event(n, S.SUBMITTING, S.QUEUED, "Kling said: " + "busy " * 100) for n in range(10)
    )
    task = with_prompt("a long prompt " * 178, state=S.QUEUED, attempts=10)
    view = task_detail_view(TaskDetail(task, events, 25), now=NOW)
    within_limits(view)
    history = field(view, "History")
    assert history.startswith("… ") and "earlier steps" in history.splitlines()[0]
