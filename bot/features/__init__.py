"""Use cases: making videos (generation, reruns, variations), members' media and clips, quotas,
task history, elements, cancellation, retention, health, and what a member reads (render).
Never imports `bot.discord`."""
