# Kling Omni Bot. Build: docker build -t kling-omni-bot .
# Run (README, "Docker"): secrets in an env file, never on the command line:
#   mkdir -p data && sudo chown 10001:10001 data
#   docker run -d --name kling-bot --restart unless-stopped --env-file kling-bot.env \
#     -v "$PWD/data:/app/data" kling-omni-bot
# With [http] listen = "0.0.0.0:8080" add -p 127.0.0.1:8080:8080 (health, metrics, and the
# callback route your reverse proxy forwards to; README "Running it in production").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# No KLING_BOT_CONFIG: /app/config.toml is read when one is mounted there, and the defaults plus
# the environment (DISCORD_TOKEN, COMETAPI_KEY) are a whole configuration without it.
WORKDIR /app
RUN useradd --create-home --uid 10001 kling \
    && mkdir -p /app/data \
    && chown kling:kling /app/data

# The dependencies first, at the versions the tests ran with (constraints.txt pins every one):
# a change to the code rebuilds from the next step and keeps this layer.
COPY constraints.txt ./
RUN pip install -r constraints.txt

COPY pyproject.toml README.md config.example.toml ./
COPY bot ./bot
COPY cogs ./cogs
# --no-deps: everything is installed above; `pip check` fails the build if constraints.txt
# misses a dependency pyproject.toml asks for.
RUN pip install --no-deps . && pip check

USER kling
# The database and the kept media live here: mount a directory or a volume so they survive the
# container (a bind-mounted directory must belong to uid 10001: README, "Docker").
VOLUME ["/app/data"]

EXPOSE 8080

# `kling-bot health` asks the bot's /healthz when [http] listen is set, else reads the health
# report the bot writes next to its database: the gateway, the database and the engine's loops.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 CMD ["kling-bot", "health"]

# SIGTERM (docker stop) shuts down cleanly; every task resumes on the next start.
STOPSIGNAL SIGTERM
CMD ["kling-bot", "run"]
