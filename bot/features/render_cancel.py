"""What a member reads after `/cancel` (and in its autocomplete) and of `/element list`.

Pure functions of the use cases' results; nothing here imports discord.
"""

from __future__ import annotations

from bot.domain.cancellation import CancelStep, cancellation_refunded
from bot.domain.i18n import _, ngettext
from bot.domain.records import LibraryElement, TaskRecord
from bot.domain.wording import clip
from bot.features.cancel import Cancelled
from bot.features.render import COLOUR_WAITING, COLOUR_WORKING, DESCRIPTION_MAX_CHARS, StatusView
from bot.features.render_lists import fit_lines, inline, state_badge, state_word

# -- /cancel ---------------------------------------------------------------------------------

CHOICE_NAME_CHARS = 100  # Discord's limit for an autocomplete choice's name


def cancel_choice_name(task: TaskRecord) -> str:
    """An autocomplete choice: `#12 · ⏳ Queued · a paper boat in the rain`."""
    head = f"#{task.id} · {state_badge(task.state)} · "
    words = task.request.prompt or " ".join(shot.prompt for shot in task.request.shots)
    return head + clip(" ".join(words.split()) or _("(no prompt)"), CHOICE_NAME_CHARS - len(head))


def cancel_text(cancelled: Cancelled) -> str:
    """What the member reads after `/cancel` (or the Cancel button)."""
    step, task = cancelled.step, cancelled.task
    refunded = cancellation_refunded(
        was_created=task.api_task_id is not None, refund_running=task.cancel_refund
    )
    cost = task.cost
    if step is CancelStep.END_NOW:
        if task.api_task_id is None:
            text = _("Cancelled task #{id}: it never reached Kling.")
        else:
            text = _("Cancelled task #{id}: Kling had made it, and it won't be posted.")
        if refunded and cost:
            text += " " + ngettext("{count} credit refunded.", "{count} credits refunded.", cost)
        return text.format(id=task.id, count=cost)
    if step is CancelStep.MARK:
        text = _(
            "Cancelled task #{id}. Kling is already rendering it and can't be stopped: it won't "
            "be posted, and it keeps its place among the videos Kling is making until it is done."
        )
        if cost and refunded:
            text += " " + ngettext(
                "Your {count} credit will be refunded.",
                "Your {count} credits will be refunded.",
                cost,
            )
        elif cost:
            text += " " + ngettext(
                "The server is billed for it, so your {count} credit stays used.",
                "The server is billed for it, so your {count} credits stay used.",
                cost,
            )
        return text.format(id=task.id, count=cost)
    if step is CancelStep.TOO_LATE:
        return _(
            "Task #{id} is being posted right now, too late to cancel. Once it is there, its "
            "🗑 Delete button removes it."
        ).format(id=task.id)
    return _("Task #{id} has already ended ({state}): there is nothing to cancel.").format(
        id=task.id, state=state_word(task.state)
    )


# -- /element --------------------------------------------------------------------------------


def element_list_view(elements: list[LibraryElement]) -> StatusView:
    """`/element list`: the server's library, by name."""
    if elements:
        lines = [
            _("**{name}** — `{id}` (added by {member})").format(
                name=inline(e.name, 40), id=e.element_id, member=f"<@{e.added_by}>"
            )
            for e in elements
        ]
    else:
        lines = [_("The library is empty. Moderators add elements with `/element add`.")]
    return StatusView(
        title="📚 " + _("Element library"),
        description=fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING if elements else COLOUR_WAITING,
        footer=_("Type a name in the elements option of /video or /storyboard; IDs work too."),
    )
