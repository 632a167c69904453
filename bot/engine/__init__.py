"""The task engine: the submitter, tracker and courier loops around the domain's decisions, and
their assembly from the settings. Never imports `bot.discord`."""
