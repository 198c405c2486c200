"""Pid files are checked against ``/proc/<pid>/cmdline`` before anything is signalled.

A stale pid file whose pid now belongs to another program must never get that program killed:
``controlplane_service.down``/``is_up`` and ``demo.down`` only remove such a file. The "programs"
here are short Python processes whose extra arguments make their command line look like ours (or
not).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.fixtures.cluster import wait_for

from sectigo_operator import controlplane_service, demo, pidfile

IDLE = "import time; time.sleep(60)"  # a process to point pid files at (ended by the test)


Spawn = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", IDLE, *args])
        procs.append(proc)
        # Until exec completes, /proc/<pid>/cmdline still shows the forking parent (pytest):
        # wait until the child's own command line is visible.
        wait_for(
            lambda: pidfile.command_line(proc.pid) == [sys.executable, "-c", IDLE, *args],
            timeout=10,
            interval=0.01,
            what=f"exec of {args}",
        )
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def write_pid(path: Path, pid: int) -> Path:
    path.write_text(f"{pid}\n")
    return path


def test_read_pid_rejects_garbage(tmp_path: Path) -> None:
    assert pidfile.read_pid(tmp_path / "missing.pid") is None
    assert pidfile.read_pid(write_pid(tmp_path / "x.pid", 0)) is None
    (tmp_path / "y.pid").write_text("not a pid")
    assert pidfile.read_pid(tmp_path / "y.pid") is None
    assert pidfile.read_pid(write_pid(tmp_path / "z.pid", 1234)) == 1234


def test_runs_matches_every_expected_word(spawn: Spawn) -> None:
    proc = spawn("sectigo_operator.cli", "run")
    assert pidfile.runs(proc.pid, ("sectigo_operator.cli", "run"))
    assert not pidfile.runs(proc.pid, ("sectigo_operator.cli", "sandbox-scm"))
    assert not pidfile.runs(proc.pid, ("sectigo_operator.controlplane",))


def test_our_pid_removes_a_file_naming_a_foreign_or_dead_process(
    tmp_path: Path,
    spawn: Spawn,
) -> None:
    foreign = spawn("something-else")
    path = write_pid(tmp_path / "a.pid", foreign.pid)
    assert pidfile.our_pid(path, ("sectigo_operator.cli",)) is None
    assert not path.exists()

    dead = spawn("sectigo_operator.cli")
    dead.kill()
    dead.wait(timeout=10)
    path = write_pid(tmp_path / "b.pid", dead.pid)
    assert pidfile.our_pid(path, ("sectigo_operator.cli",)) is None
    assert not path.exists()

    ours = spawn("sectigo_operator.cli")
    path = write_pid(tmp_path / "c.pid", ours.pid)
    assert pidfile.our_pid(path, ("sectigo_operator.cli",)) == ours.pid
    assert path.exists()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(controlplane_service, "PID_FILE", tmp_path / "control-plane.pid")
    monkeypatch.setattr(controlplane_service, "KUBECONFIG_PATH", tmp_path / "kubeconfig")
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\n")
    return tmp_path


def test_control_plane_down_never_signals_a_foreign_process(
    state: Path,
    spawn: Spawn,
) -> None:
    foreign = spawn("unrelated")
    write_pid(controlplane_service.PID_FILE, foreign.pid)
    assert controlplane_service.is_up() is False
    write_pid(controlplane_service.PID_FILE, foreign.pid)
    assert controlplane_service.down() is False
    assert foreign.poll() is None  # still running
    assert not controlplane_service.PID_FILE.exists()


def test_control_plane_down_stops_our_supervisor(
    state: Path,
    spawn: Spawn,
) -> None:
    ours = spawn(*controlplane_service.SUPERVISOR_COMMAND)
    write_pid(controlplane_service.PID_FILE, ours.pid)
    assert controlplane_service.is_up() is True
    assert controlplane_service.down() is True
    assert ours.wait(timeout=10) == -signal.SIGTERM
    assert not controlplane_service.PID_FILE.exists()


def test_control_plane_is_up_handles_permission_error(
    state: Path,
    spawn: Spawn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = spawn(*controlplane_service.SUPERVISOR_COMMAND)
    write_pid(controlplane_service.PID_FILE, ours.pid)

    def refuse(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    with monkeypatch.context() as patched:
        patched.setattr(os, "kill", refuse)
        assert controlplane_service.is_up() is False  # no exception escapes
        assert controlplane_service.down() is False
    assert ours.poll() is None


def test_demo_down_stops_ours_and_only_forgets_foreign_ones(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spawn: Spawn,
) -> None:
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path)
    operator = spawn(*demo.COMMANDS["operator"])
    foreign = spawn("not-the-sandbox")
    write_pid(tmp_path / "operator.pid", operator.pid)
    write_pid(tmp_path / "sandbox-scm.pid", foreign.pid)
    assert demo.down() == 0
    assert operator.wait(timeout=10) == -signal.SIGTERM
    assert foreign.poll() is None
    assert not (tmp_path / "operator.pid").exists()
    assert not (tmp_path / "sandbox-scm.pid").exists()
