"""The sentences the engine and the store write in English, marked here for the catalogues.

A task's failure reason is stored with it in English; the layers below the features speak no
language (a quota refusal, raised by the store in the member's interaction, is worded in
`bot/domain/quota_refusals.py`, already in the member's language). Marked here, the catalogues
translate them, and `translated()` shows them in the reader's language: word for word, or around
their values (the reason an undeliverable video gives, which names the channel). A test keeps
this list in step with the engine's and the store's own words.
"""

from __future__ import annotations

from bot.domain.i18n import N_

STORED_REASONS = (
    # engine/courier.py
    N_("The video was made but could not be posted: {reason}"),
    N_("an unexpected error in the bot ({error})"),
    N_("the bot could not save it on its disk ({why}); an admin needs to check storage.media_dir"),
    # engine/task_engine.py, submitter.py, tracker.py
    N_(
        "The bot restarted before it had finished accepting this task, so it was withdrawn. "
        "Please run the command again."
    ),
    N_("An input kept for this task could not be read by the bot."),
    N_("The video was not ready after {minutes} minutes, so the bot stopped waiting."),
    N_("The video service lost track of the task."),
    # store/task_reads.py (the quota refusals are the domain's: domain/quota_refusals.py)
    N_("There is no task {id}."),
)
