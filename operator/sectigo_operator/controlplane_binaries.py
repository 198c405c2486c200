"""The local control plane's binaries: where ``tools/envtest/build.sh`` builds them, finding
and building them, and the two process helpers every start uses (a free loopback port, death
with the parent). Re-exported by :mod:`sectigo_operator.controlplane`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_K8S_VERSION = "v1.36.3"
DEFAULT_ETCD_VERSION = "v3.6.16"


class ControlPlaneError(RuntimeError):
    """The control plane could not be found, started or stopped."""


@dataclass(frozen=True)
class Binaries:
    """Paths to the three binaries the control plane needs."""

    kube_apiserver: Path
    etcd: Path
    kubectl: Path


def _versions() -> tuple[str, str]:
    k8s = os.environ.get("K8S_VERSION", "")
    etcd = os.environ.get("ETCD_VERSION", "")
    env_file = REPO_ROOT / "tools" / "envtest" / "versions.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            # Lines look like: K8S_VERSION=${K8S_VERSION:-v1.36.3}
            if "=" in line and ":-" in line and not line.lstrip().startswith("#"):
                name = line.split("=", 1)[0].strip()
                default = line.split(":-", 1)[1].rstrip("}").strip()
                if name == "K8S_VERSION" and not k8s:
                    k8s = default
                if name == "ETCD_VERSION" and not etcd:
                    etcd = default
    return k8s or DEFAULT_K8S_VERSION, etcd or DEFAULT_ETCD_VERSION


def cache_dir() -> Path:
    """The directory ``tools/envtest/build.sh`` builds into for the pinned versions."""
    k8s, etcd = _versions()
    return REPO_ROOT / ".envtest" / "bin" / f"k8s-{k8s}_etcd-{etcd}"


def find_binaries() -> Binaries | None:
    """Locate the binaries: ``TEST_ASSET_*``, then ``KUBEBUILDER_ASSETS``, then the build cache."""
    assets = {
        "kube_apiserver": os.environ.get("TEST_ASSET_KUBE_APISERVER"),
        "etcd": os.environ.get("TEST_ASSET_ETCD"),
        "kubectl": os.environ.get("TEST_ASSET_KUBECTL"),
    }
    candidates: list[Binaries] = []
    if all(assets.values()):
        candidates.append(Binaries(*(Path(str(v)) for v in assets.values())))
    for directory in (os.environ.get("KUBEBUILDER_ASSETS"), str(cache_dir())):
        if directory:
            d = Path(directory)
            candidates.append(Binaries(d / "kube-apiserver", d / "etcd", d / "kubectl"))
    for b in candidates:
        if all(os.access(p, os.X_OK) for p in (b.kube_apiserver, b.etcd, b.kubectl)):
            return b
    return None


def build_binaries() -> Binaries:
    """Run the (cached) build script and return the binaries it produced."""
    script = REPO_ROOT / "tools" / "envtest" / "build.sh"
    proc = subprocess.run(["bash", str(script)], check=False, text=True)
    found = find_binaries()
    if proc.returncode != 0 or found is None:
        raise ControlPlaneError(f"building the control plane failed (exit {proc.returncode})")
    return found


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (ports can race; start-up retries once on failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """``preexec_fn``: ask the kernel to SIGKILL the child when its parent dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
