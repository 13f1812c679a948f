# One image for the controller and the speaker: `lbspeaker controller` / `lbspeaker speaker`.
# Build: docker build -t lbspeaker:0.1.0 .   (manifests/ deploy lbspeaker:0.1.0)
# The base: python:3.11-slim-bookworm, or a stand-in with the same Python (tools/build-image.sh).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python3 -m venv /opt/lbspeaker
COPY pyproject.toml README.md ./
COPY tools/requirements.lock ./tools/
COPY lbspeaker ./lbspeaker
# The project and its runtime dependencies, pinned in pyproject.toml and, with everything they
# pull in, in tools/requirements.lock (the set CI tests). Every dependency ships a binary wheel
# for this base, so no compiler is installed in either stage.
# Bytecode is dropped: ~40% of the venv, for ~0.7 s more at start-up (measured at 0.1.0).
# Then what the running image never imports goes (118 -> ~55 MB of own layers, see
# docs/real-nodes.md): pip and setuptools (nothing is installed at run time), and the
# kubernetes client's asyncio flavour, kubernetes.aio, with the aiohttp stack only it uses
# (lbspeaker uses the synchronous client). The real-node tests run both commands from it.
RUN /opt/lbspeaker/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c tools/requirements.lock . && \
    /opt/lbspeaker/bin/pip uninstall --yes --quiet --disable-pip-version-check \
        aiohttp aiohttp-retry aiohappyeyeballs aiosignal attrs frozenlist multidict propcache \
        yarl setuptools pip && \
    rm -rf /opt/lbspeaker/lib/python3.11/site-packages/kubernetes/aio && \
    find /opt/lbspeaker -name __pycache__ -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
# Only the virtualenv: no sources, no build tools.
COPY --from=build /opt/lbspeaker /opt/lbspeaker
# The Pods run with a read-only root filesystem: never try to write bytecode.
ENV PATH=/opt/lbspeaker/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# The controller runs as this user; the speaker's DaemonSet runs as root with every capability
# dropped but NET_RAW, because Kubernetes cannot hand added capabilities to a non-root user.
USER 65532:65532
ENTRYPOINT ["lbspeaker"]
CMD ["--help"]
