"""The CometAPI Kling Omni client: the wire format (the only JSON), its errors, streamed downloads.
Imports only `bot.domain`."""
