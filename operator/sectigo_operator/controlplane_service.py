"""Background mode of the local control plane, for ``make up`` / ``make down`` and the demo:
``up`` starts a supervisor process running a :class:`~sectigo_operator.controlplane.ControlPlane`
until ``down`` stops it; a pid file names the supervisor, and only a process that really is our
supervisor is ever signalled. ``python -m sectigo_operator.controlplane up|down|status|build``
lands in :func:`main`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import pidfile
from .controlplane import START_TIMEOUT, STOP_TIMEOUT, running
from .controlplane_binaries import REPO_ROOT, ControlPlaneError, build_binaries, find_binaries

STATE_DIR = Path(os.environ.get("SECTIGO_ENVTEST_STATE", str(REPO_ROOT / ".envtest")))
RUN_DIR = STATE_DIR / "run"
KUBECONFIG_PATH = STATE_DIR / "kubeconfig"
PID_FILE = STATE_DIR / "control-plane.pid"


def _supervise(run_dir: Path, ready_file: Path, crds: bool) -> None:
    """Body of the background supervisor: run the control plane until SIGTERM."""
    stop = False

    def _on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        with running(run_dir, crds=crds) as plane:
            shutil.copyfile(plane.kubeconfig, KUBECONFIG_PATH)
            KUBECONFIG_PATH.chmod(0o600)
            ready_file.write_text("ok")
            while not stop:
                signal.pause()
    except Exception as exc:  # report to the waiting `up` and exit
        ready_file.write_text(f"error: {exc}")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        KUBECONFIG_PATH.unlink(missing_ok=True)
        PID_FILE.unlink(missing_ok=True)


def up(crds: bool = True) -> Path:
    """Start the control plane in the background (idempotent); return the kubeconfig path."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    if is_up():
        return KUBECONFIG_PATH
    find_binaries() or build_binaries()
    ready_file = STATE_DIR / "control-plane.ready"
    ready_file.unlink(missing_ok=True)
    log = open(STATE_DIR / "control-plane.log", "ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sectigo_operator.controlplane_service",
            "_supervise",
            "--crds" if crds else "--no-crds",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO_ROOT,
    )
    log.close()
    PID_FILE.write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT + 60
    while time.monotonic() < deadline:
        if ready_file.exists():
            status = ready_file.read_text()
            if status == "ok":
                return KUBECONFIG_PATH
            if status.startswith("error"):
                raise ControlPlaneError(status)
        if proc.poll() is not None:
            raise ControlPlaneError(
                "control plane supervisor exited; see .envtest/control-plane.log"
            )
        time.sleep(0.2)
    down()
    raise ControlPlaneError("control plane did not become ready in time")


# What the supervisor started by `up` runs; a pid file naming anything else is stale.
SUPERVISOR_COMMAND = ("sectigo_operator.controlplane_service", "_supervise")


def is_up() -> bool:
    """Whether the background control plane of :func:`up` runs (a stale pid file is removed)."""
    pid = pidfile.our_pid(PID_FILE, SUPERVISOR_COMMAND)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        PID_FILE.unlink(missing_ok=True)
        return False
    except PermissionError:  # alive but not ours to signal: not our supervisor
        return False
    return KUBECONFIG_PATH.exists()


def down() -> bool:
    """Stop what :func:`up` started (and nothing else). Returns whether anything was running."""
    pid = pidfile.our_pid(PID_FILE, SUPERVISOR_COMMAND)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        PID_FILE.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + STOP_TIMEOUT + 10
    while time.monotonic() < deadline and pidfile.runs(pid, SUPERVISOR_COMMAND):
        time.sleep(0.1)
    if pidfile.runs(pid, SUPERVISOR_COMMAND):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sectigo_operator.controlplane up|down|status|build``."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "status"
    if command == "_supervise":
        _supervise(RUN_DIR, STATE_DIR / "control-plane.ready", crds="--no-crds" not in args)
        return 0
    if command == "up":
        path = up(crds="--no-crds" not in args)
        print(f"export KUBECONFIG={path}")
        return 0
    if command == "down":
        print("control plane stopped" if down() else "control plane was not running")
        return 0
    if command == "build":
        print(build_binaries().kube_apiserver.parent)
        return 0
    if command == "status":
        print(f"up, export KUBECONFIG={KUBECONFIG_PATH}" if is_up() else "down")
        return 0
    print(f"unknown command {command!r}; use up, down, status or build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
