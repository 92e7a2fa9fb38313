# syntax=docker/dockerfile:1
#
# The hpo-service image: one image for the driver (`hpo-driver`) and the workers
# (`hpo-worker`). Build from the repository root:
#
#     docker build -t hpo-service:latest .
#
# The image holds no database URL and no credentials: pass HPO_DB at run time
# (docker compose environment, a Kubernetes Secret, ...).

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: turn the project and its dependencies into wheels ------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md* LICENSE* ./
COPY hpo_service ./hpo_service
RUN pip wheel --wheel-dir /wheels .

# ---- runtime ------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="hpo-service" \
      org.opencontainers.image.description="Distributed hyperparameter tuning: TPE driver and stateless workers over MongoDB or SQLite" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric uid/gid so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 hpo \
 && useradd --system --uid 10001 --gid hpo --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin hpo

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/hpo_service-*.whl \
 && hpo-driver --help >/dev/null \
 && hpo-worker --help >/dev/null

# The workdir is on sys.path for workers (they import the objective by reference),
# so `examples.quadratic:objective` resolves from here. Mount or copy your own
# objective package next to `examples/` (or build FROM this image).
WORKDIR /app
COPY examples ./examples
# A writable place for a SQLite store when no MongoDB is used:
#     HPO_DB=sqlite:////data/hpo.sqlite
RUN mkdir -p /data && chown hpo:hpo /data

USER 10001:10001

# Workers handle SIGTERM themselves: the first finishes the current trial, a second
# hands it back. Give them a stop grace period longer than one trial.
STOPSIGNAL SIGTERM
CMD ["hpo-worker"]
