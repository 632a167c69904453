"""Pure rules and plain data: the request model and its refusals, a task's lifecycle and records,
fairness, polling, quotas, moderation, the reconcile decisions. Imports nothing else of the bot."""
