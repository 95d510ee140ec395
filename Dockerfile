# volspike: one image for the Faust worker (the default command), the live ingester
# (`python -m app ingest`) and the trainer (`python -m app train ...`).
#
#   docker build -t volspike:local .
#   docker run --rm -e VOLSPIKE_BROKER_URL=kafka://HOST:9092 volspike:local
#
# Every dependency installs from a manylinux wheel on x86_64 (xgboost-cpu bundles its own
# libgomp, confluent-kafka its own librdkafka), so neither stage needs a compiler or extra
# Debian packages.

ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

# ---- build: a virtualenv with the dependencies, then the project itself -------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# The dependencies come from pyproject.toml alone, so this slow layer is rebuilt only
# when pyproject.toml changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The project as a regular (non-editable) install into the same virtualenv.
COPY . .
RUN pip install --no-deps . && pip check

# ---- runtime: the virtualenv on a clean slim image, run as an unprivileged user -----
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="volspike" \
      org.opencontainers.image.description="Real-time crypto volatility spike detector (Faust worker, Coinbase ingester, XGBoost trainer)"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VOLSPIKE_DATA_DIR=/data \
    VOLSPIKE_WEB_HOST=0.0.0.0 \
    VOLSPIKE_WEB_PORT=6066

RUN groupadd --system --gid 10001 volspike \
    && useradd --system --uid 10001 --gid volspike --create-home --home-dir /home/volspike \
        --shell /usr/sbin/nologin volspike \
    && mkdir -p /app /data \
    && chown volspike:volspike /app /data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# numeric, so that runtimes (Kubernetes runAsNonRoot) can tell it is not root
USER 10001:10001

# RocksDB tables (<data dir>/worker); a cache of the changelog topics, rebuilt from Kafka
# when lost, but kept on a volume so that a restart does not replay them.
VOLUME ["/data"]

# the dashboard, API, probes and /metrics (Faust web, VOLSPIKE_WEB_PORT)
EXPOSE 6066

# Only the worker serves HTTP: docker-compose.yaml gives ingest and trainer their own check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('VOLSPIKE_WEB_PORT', '6066'), timeout=4)"]

# the source revision /version reports (the image has no .git); last, so that a new
# revision rebuilds no other layer
ARG GIT_REVISION=unknown
ENV VOLSPIKE_GIT_REVISION=${GIT_REVISION}

CMD ["python", "-m", "app", "worker", "-l", "info"]
