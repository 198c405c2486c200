"""A real local Kubernetes control plane (etcd + kube-apiserver) for tests and the demo.

In the style of controller-runtime's envtest: the binaries are built from the Go module proxy by
``tools/envtest/build.sh``; this module starts them on free loopback ports with TLS and a
client-certificate admin user, writes a kubeconfig, waits for readiness, installs CRDs and tears
everything down again. There is no controller-manager: namespaces never finish deleting and there
is no garbage collection, so tests clean up their own objects.

Used by ``tests/fixtures/cluster.py`` (one control plane per test session) and by the
background mode behind ``make up`` / ``make down`` (``controlplane_service``). Finding and
building the binaries is ``controlplane_binaries`` (re-exported here), the test CA
``controlplane_ca``.

Every child process is started with ``PR_SET_PDEATHSIG`` so that it dies with the process that
started it, even when that process is killed with SIGKILL: an interrupted test run leaves no etcd
or kube-apiserver behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .controlplane_binaries import (
    REPO_ROOT,
    Binaries,
    ControlPlaneError,
    build_binaries,
    cache_dir,
    die_with_parent,
    find_binaries,
    free_port,
)
from .controlplane_ca import LocalCA, pem_cert, pem_key

__all__ = [
    "REPO_ROOT",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "build_binaries",
    "cache_dir",
    "die_with_parent",
    "find_binaries",
    "free_port",
    "running",
]

START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


# --------------------------------------------------------------------------------------------
# Certificates


# --------------------------------------------------------------------------------------------
# The control plane


@dataclass
class ControlPlane:
    """etcd + kube-apiserver on loopback, with an admin kubeconfig.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``workdir`` holds the
    certificates, etcd's data, the process logs and ``kubeconfig``.
    """

    binaries: Binaries
    workdir: Path
    etcd_port: int = 0
    apiserver_port: int = 0
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _client_ca: LocalCA | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_certs()
        for attempt in (1, 2):  # free ports can race: retry once
            try:
                self._start_etcd()
                self._start_apiserver()
                break
            except ControlPlaneError:
                self.stop(remove=False)
                if attempt == 2:
                    raise
        self._write_kubeconfig(self.kubeconfig, "envtest-admin", ("system:masters",))
        self._wait_default_namespace()

    def _write_certs(self) -> None:
        d = self.workdir
        serving = LocalCA.create("sectigo-operator-envtest-serving-ca")
        client = LocalCA.create("sectigo-operator-envtest-client-ca")
        self._client_ca = client
        crt, key = serving.issue("kube-apiserver", server=True)
        (d / "serving-ca.crt").write_bytes(pem_cert(serving.cert))
        (d / "apiserver.crt").write_bytes(crt)
        (d / "apiserver.key").write_bytes(key)
        (d / "client-ca.crt").write_bytes(pem_cert(client.cert))
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (d / "sa.key").write_bytes(pem_key(sa))
        (d / "sa.pub").write_bytes(
            sa.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        for name in ("apiserver.key", "sa.key"):
            (d / name).chmod(0o600)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            close_fds=True,
        )
        log.close()
        self._procs[name] = proc
        return proc

    def _start_etcd(self) -> None:
        self.etcd_port = free_port()
        proc = self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls=http://127.0.0.1:0",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        url = f"http://127.0.0.1:{self.etcd_port}/health"
        self._wait("etcd", proc, lambda: b'"health":"true"' in _get(url, None), timeout=30.0)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port and etcd (fault tests)."""
        proc = self._procs.pop("kube-apiserver", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._start_apiserver(self.apiserver_port)

    def _start_apiserver(self, port: int | None = None) -> None:
        self.apiserver_port = port or free_port()
        d = self.workdir
        proc = self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={d}",
                f"--tls-cert-file={d / 'apiserver.crt'}",
                f"--tls-private-key-file={d / 'apiserver.key'}",
                f"--client-ca-file={d / 'client-ca.crt'}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--service-account-issuer=https://127.0.0.1:{self.apiserver_port}/",
                f"--service-account-key-file={d / 'sa.pub'}",
                f"--service-account-signing-key-file={d / 'sa.key'}",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
            ],
        )
        ctx = ssl.create_default_context(cafile=str(d / "serving-ca.crt"))
        url = f"{self.url}/readyz"
        self._wait("kube-apiserver", proc, lambda: _get(url, ctx) == b"ok", START_TIMEOUT)

    def _wait(
        self,
        name: str,
        proc: subprocess.Popen[bytes],
        ready: object,
        timeout: float,
    ) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}"
                )
            with contextlib.suppress(OSError, urllib.error.URLError, ssl.SSLError):
                if ready():
                    return
            time.sleep(0.1)  # process start-up: nothing to watch but the port
        raise ControlPlaneError(f"{name} not ready after {timeout:.0f}s:\n{self.log_tail(name)}")

    def _wait_default_namespace(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            proc = self.kubectl("get", "namespace", "default", "-o", "name", check=False)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise ControlPlaneError("namespace 'default' never appeared")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- users and kubeconfig ---------------------------------------------------------------

    def _write_kubeconfig(self, path: Path, user: str, groups: Sequence[str]) -> None:
        assert self._client_ca is not None
        crt, key = self._client_ca.issue(user, groups)
        ca = (self.workdir / "serving-ca.crt").read_bytes()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(ca).decode(),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": base64.b64encode(crt).decode(),
                        "client-key-data": base64.b64encode(key).decode(),
                    },
                }
            ],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": user}}],
            "current-context": "envtest",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)

    def add_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """Write a kubeconfig for another (RBAC-limited) user, envtest's ``AddUser``."""
        path = self.workdir / f"kubeconfig-{name}"
        self._write_kubeconfig(path, name, groups)
        return path

    # -- kubectl ------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the matching kubectl against this control plane."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        proc = subprocess.run(
            [str(self.binaries.kubectl), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc

    def install_crds(self, directory: Path = REPO_ROOT / "crds") -> None:
        """Apply every CRD in ``directory`` and wait until each is Established."""
        files = sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
        if not files:
            raise ControlPlaneError(f"no CRDs found in {directory}")
        named = [arg for path in files for arg in ("-f", str(path))]
        self.kubectl("apply", "--server-side", "--force-conflicts", *named)
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *named)

    # -- stop ---------------------------------------------------------------------------------

    def stop(self, remove: bool = True) -> None:
        """SIGTERM the apiserver then etcd, kill what does not stop in time, remove the workdir."""
        for name in ("kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.poll() is None]


def _get(url: str, ctx: ssl.SSLContext | None) -> bytes:
    with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310 - loopback only
        body: bytes = resp.read()
        return body


@contextlib.contextmanager
def running(workdir: Path | None = None, *, crds: bool = True) -> Iterator[ControlPlane]:
    """Start a control plane (building the binaries if needed) for the duration of the block."""
    binaries = find_binaries() or build_binaries()
    own_dir = workdir is None
    directory = workdir or Path(tempfile.mkdtemp(prefix="sectigo-envtest-"))
    plane = ControlPlane(binaries, directory)
    try:
        plane.start()
        if crds:
            plane.install_crds()
        yield plane
    finally:
        plane.stop(remove=own_dir)


if __name__ == "__main__":  # ``python -m sectigo_operator.controlplane up|down|status|build``
    from sectigo_operator.controlplane_service import main

    sys.exit(main())
