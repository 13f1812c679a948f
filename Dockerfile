# One image for the controller and the speaker: `lbspeaker controller` / `lbspeaker speaker`.
# Build: docker build -t lbspeaker:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/lbspeaker
COPY pyproject.toml README.md ./
COPY lbspeaker ./lbspeaker
# Runtime dependencies only (pinned in pyproject.toml); no compiler reaches the final stage.
RUN /opt/lbspeaker/bin/pip install --no-cache-dir . && \
    find /opt/lbspeaker -name __pycache__ -prune -exec rm -rf {} +

FROM python:3.11-slim-bookworm
COPY --from=build /opt/lbspeaker /opt/lbspeaker
ENV PATH=/opt/lbspeaker/bin:$PATH PYTHONUNBUFFERED=1
# The controller runs as this user; the speaker's DaemonSet runs as root with every capability
# dropped but NET_RAW, because Kubernetes cannot hand added capabilities to a non-root user.
USER 65532:65532
ENTRYPOINT ["lbspeaker"]
