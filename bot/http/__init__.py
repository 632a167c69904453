"""The bot's own HTTP server: /healthz, /metrics and the Omni callback route."""
