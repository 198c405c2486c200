# The sectigo-operator container image (issue 11 item 2).
#
# BASE must be a Debian-like image with python3 (>= 3.11) and python3-venv, given pinned (by
# digest). tools/image/build.sh makes one with debootstrap (no registry needed) and runs:
#   podman build --network host --build-arg BASE=localhost/sectigo-base@sha256:... \
#     -t localhost/sectigo-operator:dev .
#
# Stages: requirements (the dependency lists from pyproject.toml), dependencies (a virtual
# environment with them, from PyPI), package (the package from this checkout, into that venv);
# the final stage is BASE, an unprivileged user and the venv in two layers (dependencies,
# package), without pip, setuptools, wheel or a pip cache. It runs as uid/gid 10001; the root
# filesystem can be mounted read-only. The entrypoint is `sectigo-operator` and the default
# command `run` (all namespaces); arguments replace the command, e.g. `run --namespace apps`.
ARG BASE

# The dependency lists from pyproject.toml: what follows is reused as long as they stay the same,
# whatever else changes in pyproject.toml (COPY --from compares the files' contents).
FROM ${BASE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; p = tomllib.load(open('/src/pyproject.toml', 'rb')); \
open('/src/build.txt', 'w').write('\n'.join(sorted(p['build-system']['requires']))); \
open('/src/run.txt', 'w').write('\n'.join(sorted(p['project']['dependencies'])))" \
 && touch -d @0 /src/build.txt /src/run.txt

# Dependencies: build tools (pip, setuptools, wheel) in a venv of their own, the operator's
# dependencies (from PyPI) in the runtime venv, which gets no pip. The optional build secret
# `ca-bundle` is a CA bundle for reaching the package index (through a TLS-inspecting proxy, say):
# mounted for this step only, kept out of every layer. kubernetes.aio, the client's asyncio copy,
# is 68 MB the operator does not use (it drives the synchronous client from threads): removed;
# keep it if that changes.
FROM ${BASE} AS dependencies
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore
COPY --from=requirements /src/build.txt /src/run.txt /tmp/
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && python3 -m venv /opt/build-tools \
 && /opt/build-tools/bin/pip install --requirement /tmp/build.txt \
 && python3 -m venv --without-pip /opt/sectigo-operator \
 && /opt/build-tools/bin/pip --python /opt/sectigo-operator/bin/python install \
      --requirement /tmp/run.txt \
 && rm -rf /opt/sectigo-operator/lib/python3*/site-packages/kubernetes/aio

# The package from this checkout, as a wheel installed into the runtime venv under /staging:
# only its own files (a small layer of the final image, the only one a code change rebuilds).
FROM dependencies AS package
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/build-tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
 && /opt/build-tools/bin/pip --python /opt/sectigo-operator/bin/python install --no-deps \
      --no-compile --no-warn-script-location --root /staging /tmp/wheels/*.whl \
 && /opt/sectigo-operator/bin/python -m compileall -q -d /opt/sectigo-operator \
      /staging/opt/sectigo-operator \
 && cp -a /staging/. / \
 && /opt/sectigo-operator/bin/python -c "import sectigo_operator.handlers" \
 && /opt/sectigo-operator/bin/sectigo-operator --version

FROM ${BASE}
ARG BASE
LABEL org.opencontainers.image.title="sectigo-operator" \
      org.opencontainers.image.description="Kubernetes operator for Sectigo Certificate Manager" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE}"
# A fixed numeric uid/gid, so that `runAsNonRoot: true` can be verified by the kubelet.
RUN groupadd --gid 10001 sectigo \
 && useradd --uid 10001 --gid sectigo --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --no-log-init sectigo
COPY --from=dependencies /opt/sectigo-operator /opt/sectigo-operator
COPY --from=package /staging/ /
ENV PATH=/opt/sectigo-operator/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["sectigo-operator"]
CMD ["run"]
