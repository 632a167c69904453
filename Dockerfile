# Kling Omni Bot. Build: docker build -t kling-omni-bot .
# Run:   docker run -d --name kling-bot -e DISCORD_TOKEN=... -e COMETAPI_KEY=... \
#          -v "$PWD/config.toml:/app/config.toml:ro" -v kling-data:/app/data kling-omni-bot
# With [http] listen = "0.0.0.0:8080" add -p 127.0.0.1:8080:8080 (health, metrics, and the
# callback route your reverse proxy forwards to; README "Running it in production").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    KLING_BOT_CONFIG=/app/config.toml

WORKDIR /app
COPY pyproject.toml README.md config.example.toml ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install . \
    && useradd --create-home --uid 10001 kling \
    && mkdir -p /app/data \
    && chown kling:kling /app/data

USER kling
# The database and the kept media live here: mount a volume so they survive the container.
VOLUME ["/app/data"]

EXPOSE 8080

# `kling-bot health` asks the bot's /healthz when [http] listen is set, else reads the health
# report the bot writes next to its database: the gateway, the database and the engine's loops.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 CMD ["kling-bot", "health"]

# SIGTERM (docker stop) shuts down cleanly; every task resumes on the next start.
STOPSIGNAL SIGTERM
CMD ["kling-bot", "run"]
