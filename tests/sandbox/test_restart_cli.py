"""A restart keeps orders and the CA; the CLI runs the sandbox in the background."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sectigo_operator.sandbox.config import SandboxConfig
from sectigo_operator.sandbox.testing import running_sandbox

from .helpers import SSL, enroll_ssl, make_csr


def test_restart_keeps_orders_and_ca(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = SandboxConfig(issue_after_collects=1)
    with running_sandbox(config, state) as first:
        with httpx.Client(base_url=first.base_url, headers=first.auth_headers()) as scm:
            issued = enroll_ssl(scm, comments="keep-me")
            scm.get(f"{SSL}/collect/{issued}")
            leaf_before = scm.get(f"{SSL}/collect/{issued}/x509CO").text
            pending = enroll_ssl(scm, csr=make_csr("later.example.com"))
        root_before = first.root_pem
    with running_sandbox(config, state) as second:
        assert second.root_pem == root_before
        with httpx.Client(base_url=second.base_url, headers=second.auth_headers()) as scm:
            assert scm.get(f"{SSL}/{issued}").json()["comments"] == "keep-me"
            assert scm.get(f"{SSL}/collect/{issued}/x509CO").text == leaf_before
            assert scm.get(f"{SSL}/collect/{pending}").status_code == 400  # one pending answer
            assert scm.get(f"{SSL}/collect/{pending}").status_code == 200
            assert enroll_ssl(scm) > pending  # ids keep growing


def _wait_gone(pid: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_cli_background_mode(tmp_path: Path) -> None:
    state = tmp_path / "cli-state"
    pid_file = tmp_path / "sandbox.pid"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sectigo_operator.cli",
            "sandbox-scm",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--pid-file",
            str(pid_file),
            "--background",
            "--issue-after-collects",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.split("running at ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    pid = int(pid_file.read_text())
    try:
        headers = {"login": "admin", "password": "sandbox-password", "customerUri": "sandbox"}
        with httpx.Client(base_url=url, headers=headers) as scm:
            ssl_id = enroll_ssl(scm)
            assert scm.get(f"{SSL}/collect/{ssl_id}").json()["code"] == 0
        assert (state / "ca" / "root.pem").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
    assert _wait_gone(pid, time.monotonic() + 10)
    assert not pid_file.exists()
