# paydown: the GitHub App service (web page + webhook + worker) and the CLI, in one image.
#   docker run -p 8000:8000 --env-file paydown.env paydown               # web + webhook (default command)
#   docker run --env-file paydown.env paydown worker                      # one worker; run as many as you need
#   docker run -v "$PWD:/src" paydown scan /src                           # the CLI on a local checkout
# With PAYDOWN_REDIS_URL and PAYDOWN_DATABASE_URL pointing at one Redis and one PostgreSQL, run one `serve` and N
# `worker` containers. Without PAYDOWN_REDIS_URL, `serve` starts an embedded Redis and a worker itself.
# Without a GitHub App configured there is no login, so `serve` binds to 127.0.0.1 whatever PAYDOWN_HOST says.
# The base image by digest (the tag says which it is): a rebuild gets the same image until the digest is updated on
# purpose (Dependabot or Renovate propose that), as paydown's PD204 asks of the repositories it scans.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAYDOWN_DATA_DIR=/var/lib/paydown \
    PAYDOWN_CACHE_DIR=/var/cache/paydown \
    PAYDOWN_HOST=0.0.0.0 \
    PAYDOWN_PORT=8000

# git: `paydown scan` reads history for stale flags. Nothing from an analysed repository is ever run.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY paydown ./paydown
COPY analyzers ./analyzers
COPY service ./service
COPY templates ./templates
# Every dependency at the version requirements.lock pins (the same set the tests ran with).
RUN pip install --no-cache-dir -c requirements.lock '.[service]' \
    && useradd --system --create-home --home-dir /home/paydown paydown \
    && mkdir -p /var/lib/paydown /var/cache/paydown \
    && chown paydown /var/lib/paydown /var/cache/paydown

USER paydown
VOLUME ["/var/lib/paydown"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
ENTRYPOINT ["paydown"]
CMD ["serve"]
