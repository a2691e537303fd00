# paydown: the CLI for now (the GitHub App service joins it in a later release).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAYDOWN_CACHE_DIR=/var/cache/paydown

RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY paydown ./paydown
COPY analyzers ./analyzers
COPY service ./service
COPY templates ./templates
RUN pip install --no-cache-dir -c requirements.lock . \
    && useradd --system --create-home --home-dir /home/paydown paydown \
    && mkdir -p /var/cache/paydown && chown paydown /var/cache/paydown

USER paydown
WORKDIR /src
ENTRYPOINT ["paydown"]
CMD ["scan", "."]
