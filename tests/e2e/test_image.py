"""The operator's container image against the test control plane (issue 11 item 2).

``tools/image/build.sh`` builds ``localhost/sectigo-operator:dev``; the first run on a machine
also installs podman and makes the Debian base with debootstrap (a few minutes), later runs take
seconds (podman's layer cache). The container then runs as a restricted Pod would: as the image's
non-root user, read-only root filesystem, no capabilities, no privilege escalation, a kubeconfig
mounted read-only and ``KUBECONFIG`` pointing at it. It shares the host's network so that it
reaches the control plane and the sandbox SCM on 127.0.0.1, watches only the test's namespace and
must bring a SectigoCertificate to Ready with its Secret, then stop cleanly on SIGTERM.

A machine where the image cannot be built or a container cannot be run fails this test with the
reason: it never skips (only the ``cluster`` fixture's own rule for a missing control plane
applies). podman runs through ``tools/image/podman.sh``, which adds the flags this kind of
machine needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cluster import Cluster
from tests.fixtures.operator import (
    CERT,
    FAST_SETTINGS,
    apply,
    certificate,
    check_secret,
    history,
    wait_condition,
)
from tests.fixtures.serviceaccount import (
    SERVICE_ACCOUNT,
    install_service_account,
    rbac_rules,
    service_account_kubeconfig,
)

from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

CHECKOUT = Path(__file__).resolve().parents[2]  # the image is built from this test's checkout
BUILD_SCRIPT = CHECKOUT / "tools" / "image" / "build.sh"
PODMAN = CHECKOUT / "tools" / "image" / "podman.sh"
IMAGE = "localhost/sectigo-operator:dev"
BUILD_TIMEOUT = 840  # cold (apt-get podman, debootstrap, PyPI): 4 to 5 minutes on 2 cores
KUBECONFIG_IN_CONTAINER = "/etc/sectigo-operator/kubeconfig"


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``tools/image/podman.sh ARGS``; with ``check`` a failure fails the test with its words."""
    proc = subprocess.run(
        ["bash", str(PODMAN), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"podman {' '.join(args[:2])} failed ({proc.returncode}): the container engine "
            f"does not work on this machine:\n{proc.stderr.strip()[-4000:]}"
        )
    return proc


def build_image() -> float:
    """Run the build script (cached after the first run); return how long it took."""
    started = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        pytest.fail(
            f"tools/image/build.sh did not finish within {BUILD_TIMEOUT}s:\n{output[-6000:]}"
        )
    if proc.returncode != 0:
        pytest.fail(
            f"tools/image/build.sh failed ({proc.returncode}); the image cannot be built on this "
            f"machine:\n{proc.stderr.strip()[-6000:]}"
        )
    return time.monotonic() - started


def image_user(image: str) -> tuple[int, int]:
    """The image's ``USER`` as numeric uid and gid (a name could not be checked by a kubelet)."""
    user = podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit(), f"the image's USER is not numeric uid:gid: {user!r}"
    return int(uid), int(gid)


def operator_kubeconfig(cluster: Cluster, dest: Path, namespace: str) -> Path:
    """The kubeconfig the containerised operator runs with: the deploy ServiceAccount's (its
    RBAC from deploy/, a TokenRequest token), as in a pod of the Deployment."""
    install_service_account(cluster, namespace, rbac_rules())
    return service_account_kubeconfig(cluster, dest, namespace, SERVICE_ACCOUNT)


def readable_by(path: Path, uid: int, gid: int) -> None:
    """Let the container's user read ``path`` and no one else (as a kubelet does a Secret)."""
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
        path.chmod(0o400)
    else:  # rootless podman maps the container's users elsewhere; the directory stays private
        path.chmod(0o444)


@dataclass
class Container:
    """A container started by ``container_factory``, by name."""

    name: str

    def inspect(self) -> dict[str, Any]:
        result: list[dict[str, Any]] = json.loads(podman("container", "inspect", self.name).stdout)
        return result[0]

    def exec(self, *command: str) -> str:
        return podman("exec", self.name, *command).stdout

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr


@pytest.fixture
def container_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Container]]:
    """``start(*podman_run_args)``: a detached container; removed at teardown, logs on failure."""
    started: list[Container] = []

    def start(*args: str) -> Container:
        container = Container(f"sectigo-operator-test-{uuid.uuid4().hex[:10]}")
        started.append(container)
        podman("run", "--detach", "--name", container.name, *args)
        return container

    yield start
    failed = getattr(request.node, "rep_call", None)
    for container in started:
        if failed is not None and failed.failed:
            lines = container.logs().splitlines()
            useful = "\n".join(line for line in lines if "[DEBUG" not in line)
            print(f"--- container {container.name} log without DEBUG ---\n{useful[-20000:]}")
        podman("rm", "--force", "--time", "5", container.name, check=False)


@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_image_runs_the_operator_read_only_as_non_root(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    container_factory: Callable[..., Container],
    tmp_path: Path,
) -> None:
    print(f"tools/image/build.sh: {build_image():.1f}s")
    uid, gid = image_user(IMAGE)
    assert uid != 0, "the image runs as root"
    kubeconfig = operator_kubeconfig(cluster, tmp_path / "kubeconfig", namespace)
    readable_by(kubeconfig, uid, gid)
    scm_setup()

    env = {"KUBECONFIG": KUBECONFIG_IN_CONTAINER, **FAST_SETTINGS}
    operator = container_factory(
        "--network=host",
        "--read-only",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
        f"--volume={kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro",
        *(f"--env={name}={value}" for name, value in env.items()),
        IMAGE,
        "run",
        "--namespace",
        namespace,
        "--verbose",
    )
    apply(
        cluster,
        namespace,
        certificate("boxed", commonName="boxed.example.com", dnsNames=["boxed.example.com"]),
    )
    obj = wait_condition(cluster, namespace, CERT, "boxed", timeout=90)
    info = check_secret(cluster, namespace, "boxed-tls", sandbox_scm)
    assert info.common_name == "boxed.example.com"
    assert history(obj)[-2:] == ["Applied", "Issued"]
    assert len(sandbox_scm.orders(common_name="boxed.example.com")) == 1

    # what it ran as: the image's user, without capabilities, on a read-only root filesystem
    state = operator.inspect()
    assert state["State"]["Running"], state["State"]
    assert state["HostConfig"]["ReadonlyRootfs"] is True
    status = Path(f"/proc/{state['State']['Pid']}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Uid"].split() == [str(uid)] * 4, fields["Uid"]
    assert fields["Gid"].split() == [str(gid)] * 4, fields["Gid"]
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    root_mount = next(
        line.split()
        for line in operator.exec("cat", "/proc/self/mounts").splitlines()
        if line.split()[1] == "/"
    )
    assert "ro" in root_mount[3].split(","), root_mount

    # SIGTERM (PID 1 in the container) stops the operator cleanly, well before podman's SIGKILL
    stopped = time.monotonic()
    podman("stop", "--time", "30", operator.name, timeout=60)
    took = time.monotonic() - stopped
    exit_code = operator.inspect()["State"]["ExitCode"]
    assert exit_code == 0 and took < 30, f"exit code {exit_code} after {took:.1f}s"
