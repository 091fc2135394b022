# The churn_assets code location as a container image: the package and its runtime dependencies on a slim
# Python base, run as a non-root user. Its command is Dagster's code server for churn_assets.definitions;
# the same image runs the webserver, the daemon and each run (docs/deployment.md, "Self-hosted").
#
# CMD, not ENTRYPOINT: Dagster's Helm chart starts user code with `args: ["dagster", "api", "grpc", ...]` and
# the Kubernetes run launcher starts runs with `dagster api execute_run ...`; Kubernetes appends args to an
# ENTRYPOINT, so a fixed one would break both.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_NO_CACHE=1 \
    CHURN_DATA_DIR=/var/lib/churn \
    DAGSTER_HOME=/opt/dagster/home

WORKDIR /opt/churn
# uv resolves and installs the package and its dependencies (parallel downloads: seconds where pip takes minutes),
# compiled to bytecode as pip does, so that no process of the image compiles its imports again;
# the official uv image's static binaries, copied in, not kept in a layer of their own
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /uvx /usr/local/bin/
# only what the package is built from (.dockerignore keeps everything else out of the context)
COPY pyproject.toml README.md ./
COPY churn_assets ./churn_assets
RUN uv pip install --system --compile-bytecode . \
 && useradd --create-home --uid 10001 churn \
 && mkdir -p /var/lib/churn /opt/dagster/home \
 && chown churn /var/lib/churn /opt/dagster/home

USER 10001
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "churn_assets.definitions"]
