"""``make demo``: the whole product on one machine, on embedded defaults.

``python -m sectigo_operator.demo up`` builds or reuses the local control plane (in the
background, as ``make up``), starts the sandbox SCM on 127.0.0.1:8843 and the operator in the
background, applies ``sample_manifests/demo/``, waits until every certificate it applied is Ready
and prints ``kubectl get sectigocertificates -o wide``. ``down`` stops the operator and the
sandbox; ``make down`` then stops the control plane too. State and logs live in ``.demo/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import controlplane, controlplane_service, pidfile

ROOT = controlplane.REPO_ROOT
DEMO_DIR = Path(os.environ.get("SECTIGO_DEMO_DIR", str(ROOT / ".demo")))
MANIFESTS = ROOT / "sample_manifests" / "demo"
SANDBOX_PORT = 8843
READY_TIMEOUT = 180.0


class DemoError(RuntimeError):
    """The demo could not be started."""


# What each background process of the demo runs; a pid file naming anything else is stale.
COMMANDS: dict[str, tuple[str, ...]] = {
    "operator": ("sectigo_operator.cli", "run"),
    "sandbox-scm": ("sectigo_operator.sandbox.launcher",),
}


def _pid_alive(name: str) -> int | None:
    """The pid of the demo's ``name`` process if it still runs; a stale pid file is removed."""
    return pidfile.our_pid(DEMO_DIR / f"{name}.pid", COMMANDS[name])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _kubectl(*args: str, kubeconfig: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    binaries = controlplane.find_binaries()
    if binaries is None:
        raise DemoError("kubectl not built; run `make controlplane`")
    proc = subprocess.run(
        [str(binaries.kubectl), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def start_sandbox() -> None:
    pid_file = DEMO_DIR / "sandbox-scm.pid"
    if _pid_alive("sandbox-scm"):
        print("sandbox SCM already running on http://127.0.0.1:8843")
        return
    if _port_in_use(SANDBOX_PORT):
        raise DemoError(f"127.0.0.1:{SANDBOX_PORT} is taken by another program; stop it first")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sectigo_operator.cli",
            "sandbox-scm",
            "--background",
            "--port",
            str(SANDBOX_PORT),
            "--state-dir",
            str(DEMO_DIR / "sandbox-scm"),
            "--pid-file",
            str(pid_file),
            "--log-file",
            str(DEMO_DIR / "sandbox-scm.log"),
        ],
        check=True,
    )


def start_operator(kubeconfig: Path) -> None:
    pid_file = DEMO_DIR / "operator.pid"
    if _pid_alive("operator"):
        print("operator already running")
        return
    log = (DEMO_DIR / "operator.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sectigo_operator.cli", "run"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    pid_file.write_text(str(proc.pid))
    print(f"operator started (pid {proc.pid}, log {DEMO_DIR / 'operator.log'})")


def wait_ready(kubeconfig: Path, names: list[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = set(names)
    while time.monotonic() < deadline:
        got = json.loads(
            _kubectl("get", "sectigocertificates", "-o", "json", kubeconfig=kubeconfig).stdout
        )
        for item in got["items"]:
            conditions = item.get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                pending.discard(item["metadata"]["name"])
        if not pending:
            return
        time.sleep(1)  # polling the API at a human pace
    raise DemoError(
        f"not Ready after {READY_TIMEOUT:.0f}s: {', '.join(sorted(pending))} "
        f"(see {DEMO_DIR / 'operator.log'} and `kubectl describe sectigocertificate`)"
    )


def up() -> int:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    print("starting the local control plane (first run builds it: a few minutes)...")
    kubeconfig = controlplane_service.up()
    start_sandbox()
    start_operator(kubeconfig)
    applied = _kubectl("apply", "-f", str(MANIFESTS), "-o", "name", kubeconfig=kubeconfig)
    names = [
        line.split("/", 1)[1]
        for line in applied.stdout.split()
        if line.startswith("sectigocertificate.")
    ]
    print(f"applied {MANIFESTS.relative_to(ROOT)}/; waiting for {len(names)} certificates...")
    wait_ready(kubeconfig, names)
    print(_kubectl("get", "sectigocertificates", "-o", "wide", kubeconfig=kubeconfig).stdout)
    print("All demo certificates are Ready. To look around:\n")
    print(f"    export KUBECONFIG={kubeconfig}")
    binaries = controlplane.find_binaries()
    scripts = Path(sys.executable).parent  # the venv's bin: kubectl-sectigo is there
    if binaries is not None:
        print(
            f"    export PATH={binaries.kubectl.parent}:{scripts}:$PATH"
            "   # the matching kubectl, and kubectl sectigo"
        )
    print("    kubectl get sectigo")
    print("    kubectl describe sectigocertificate demo-rsa")
    print("    kubectl sectigo status demo-rsa")
    print("\nStop everything with `make down`.")
    return 0


def down() -> int:
    """Stop the demo's operator and sandbox (only if their pid files still name them)."""
    for name in ("operator", "sandbox-scm"):
        pid = _pid_alive(name)
        if pid is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            (DEMO_DIR / f"{name}.pid").unlink(missing_ok=True)
            continue
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and pidfile.runs(pid, COMMANDS[name]):
            time.sleep(0.1)
        if pidfile.runs(pid, COMMANDS[name]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        (DEMO_DIR / f"{name}.pid").unlink(missing_ok=True)
        print(f"{name} stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "up"
    try:
        if command == "up":
            return up()
        if command == "down":
            return down()
    except (DemoError, controlplane.ControlPlaneError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m sectigo_operator.demo up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
