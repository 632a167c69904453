"""Everything that talks to Discord through discord.py: the client and its wiring, result
delivery, status messages, clips lent to Discord, rate-limit pacing. Imported only by the cogs
and the command line's `run` and `demo`."""
