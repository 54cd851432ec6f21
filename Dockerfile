# RNN forecast service: FastAPI + Keras/TensorFlow (CPU), served by `forecast-service`.
# One image, two roles: the API (the default command) and, with the command
# `forecast-service worker`, a Celery training worker (see docker-compose.yml).
#
#   docker build -t rnn-forecast-service .
#   docker run -p 8000:8000 -v models_store:/app/models_store rnn-forecast-service
#
# Runtime variables:
#   WEB_CONCURRENCY        API processes (uvicorn workers, `forecast-service --api-processes`); default 1.
#                          With the local backend each runs its own pool of FORECAST_TRAINING_WORKERS
#                          trainers; every process answers for every job.
#   FORECAST_JOBS_BACKEND  local (default: training in the API container) or celery (training
#                          in worker containers, over the Redis at FORECAST_REDIS_URL).
#   FORECAST_STORE_ROOT    model store; set to the /app/models_store volume below, which every
#                          API and worker container mounts.
#   FORECAST_API_KEY, FORECAST_TRAINING_WORKERS, FORECAST_MAX_SERIES_LENGTH, ...: see service/config.py.

# ---- build stage: a self-contained venv at /opt/venv ------------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, in a layer of their own: rebuilt only when pyproject.toml or constraints.txt
# change. The list is read from [project].dependencies (environment markers kept) with tomllib, and
# installed at the versions the test suite passed with (constraints.txt).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the package itself, without touching the dependencies installed above.
# pyproject names README.md as the readme: the wildcard copies it when present and is not an error
# when absent (pyproject.toml, unchanged, keeps the COPY from matching nothing).
COPY pyproject.toml README.md* ./
COPY service/ ./service/
RUN pip install --no-cache-dir --no-deps . \
    && forecast-service --help > /dev/null

# ---- runtime stage ----------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FORECAST_STORE_ROOT=/app/models_store \
    WEB_CONCURRENCY=1

COPY --from=builder /opt/venv /opt/venv

# Non-root user; it owns the model store. Ownership is set before VOLUME so that a new named
# volume is initialised from this directory with the same owner.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
    && mkdir -p /app/models_store \
    && chown app:app /app/models_store

WORKDIR /app
USER 10001:10001
VOLUME /app/models_store

EXPOSE 8000

# TensorFlow makes the first start slow, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# sh -c so that WEB_CONCURRENCY expands at run time; exec keeps forecast-service as PID 1 so it
# receives SIGTERM from `docker stop` directly.
CMD ["sh", "-c", "exec forecast-service --host 0.0.0.0 --port 8000 --api-processes \"${WEB_CONCURRENCY:-1}\""]
