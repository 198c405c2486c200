"""An in-process sandbox SCM for tests: a background thread with its own event loop.

Works from sync tests, async tests (the server does not share their loop) and for separate
processes (the operator under test only needs ``base_url``)::

    from sectigo_operator.sandbox.testing import running_sandbox

    with running_sandbox() as scm:
        httpx.get(scm.base_url + "/api/ssl/v1/types", headers=scm.auth_headers())
        scm.approve(order_id)
        assert scm.counters()["enrollsByCommonName"]["app.example.com"] == 1

The helper methods call the admin endpoint (``/sandbox-admin/``) over HTTP and return its JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from .config import FaultKind, FaultRule, SandboxConfig
from .server import RunningServer, start_server

__all__ = ["SandboxHandle", "running_sandbox", "start_sandbox"]


class SandboxHandle:
    """A running sandbox: URLs, credentials and admin helpers. Stop it with :meth:`stop`."""

    def __init__(self, config: SandboxConfig, state_dir: Path, port: int = 0) -> None:
        self.config = config
        self.state_dir = state_dir
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopped = asyncio.Event()
        self._server: RunningServer | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(port,), name="sandbox-scm", daemon=True
        )
        self._thread.start()
        self._started.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("the sandbox SCM failed to start") from self._error
        if self._server is None:
            raise RuntimeError("the sandbox SCM did not start within 30 s")
        self.port: int = self._server.port
        self.base_url: str = self._server.base_url
        self.admin_url: str = f"{self.base_url}/sandbox-admin"
        self._admin: httpx.Client = httpx.Client(base_url=self.admin_url, timeout=10)

    def __repr__(self) -> str:
        return f"SandboxHandle(base_url={self.base_url!r}, state_dir={str(self.state_dir)!r})"

    def _run(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                start_server(self.config, self.state_dir, port)
            )
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            self._loop.run_until_complete(self._stopped.wait())
            self._loop.run_until_complete(self._server.stop())
        finally:
            self._loop.close()

    def stop(self) -> None:
        """Stop serving and close the state (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=30)
        self._admin.close()

    # -- credentials ------------------------------------------------------------------------

    @property
    def login(self) -> str:
        return self.config.login

    @property
    def password(self) -> str:
        return self.config.password.get_secret_value()

    @property
    def customer_uri(self) -> str:
        return self.config.customer_uri

    @property
    def org_id(self) -> int:
        return self.config.org_ids[0]

    def auth_headers(self) -> dict[str, str]:
        """The SCM login headers for this sandbox."""
        return {"login": self.login, "password": self.password, "customerUri": self.customer_uri}

    # -- CA -------------------------------------------------------------------------------

    @property
    def root_pem(self) -> str:
        return str(self._get("/ca")["root"])

    @property
    def intermediate_pem(self) -> str:
        return str(self._get("/ca")["intermediate"])

    def root_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_pem.encode())

    # -- admin endpoint ---------------------------------------------------------------------

    def _get(self, path: str, **params: Any) -> Any:
        response = self._admin.get(path, params={k: v for k, v in params.items() if v})
        response.raise_for_status()
        return response.json()

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = self._admin.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def orders(
        self, common_name: str | None = None, email: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Order rows (``kind``, ``id``, ``status``, ``comments``, ``collectCalls``, ...)."""
        result: list[dict[str, Any]] = self._get(
            "/orders", commonName=common_name, email=email, kind=kind
        )
        return result

    def order(self, order_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/orders/{order_id}")
        return result

    def counters(self) -> dict[str, Any]:
        """``enrollsByCommonName``, ``enrollsByEmail``, ``collectCallsByOrder``,
        ``callsByEndpoint``, ``revocations``, ``renewals``, ``replacements``."""
        result: dict[str, Any] = self._get("/counters")
        return result

    def _action(self, order_id: int, action: str, body: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = self._send("POST", f"/orders/{order_id}/{action}", body)
        return result

    def approve(self, order_id: int) -> dict[str, Any]:
        return self._action(order_id, "approve")

    def decline(self, order_id: int) -> dict[str, Any]:
        return self._action(order_id, "decline")

    def reject(self, order_id: int) -> dict[str, Any]:
        return self._action(order_id, "reject")

    def issue(self, order_id: int) -> dict[str, Any]:
        """Issue now, whatever the delay or approval state."""
        return self._action(order_id, "issue")

    def expire(self, order_id: int) -> dict[str, Any]:
        return self._action(order_id, "expire")

    def revoke(self, order_id: int, reason_code: int = 0) -> dict[str, Any]:
        """Revoke out of band (as if an SCM administrator did it)."""
        return self._action(order_id, "revoke", {"reasonCode": reason_code})

    def inject_fault(
        self,
        kind: FaultKind,
        path: str = "*",
        *,
        method: str | None = None,
        count: int | None = 1,
        status: int = 500,
        code: int = -2,
        description: str = "Internal error. Please contact support.",
        retry_after: int = 1,
        latency_seconds: float = 0.0,
    ) -> int:
        """Add a fault rule (see :class:`~.config.FaultRule`); returns its id."""
        rule = FaultRule(
            kind=kind,
            path=path,
            method=method,
            count=count,
            status=status,
            code=code,
            description=description,
            retry_after=retry_after,
            latency_seconds=latency_seconds,
        )
        created = self._send("POST", "/faults", rule.model_dump(mode="json", by_alias=True))
        return int(created["id"])

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/faults")
        return result

    def clear_faults(self) -> None:
        self._send("DELETE", "/faults")

    def settings(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/settings")
        return result

    def update_settings(self, **settings: Any) -> dict[str, Any]:
        """PATCH runtime settings by their camelCase names, e.g. ``issueAfterCollects=2``."""
        result: dict[str, Any] = self._send("PATCH", "/settings", settings)
        return result

    def set_pending_code(self, code: int) -> None:
        """0 ("Being processed by Sectigo"), -1400 or -183."""
        self.update_settings(pendingCode=code)

    def set_strict_reason_code(self, strict: bool) -> None:
        self.update_settings(strictReasonCode=strict)

    def advance_clock(self, seconds: float) -> None:
        self._send("POST", "/clock", {"advanceSeconds": seconds})

    def reset(self) -> None:
        """Forget orders, counters, faults and runtime settings (the CA stays)."""
        self._send("POST", "/reset")


def start_sandbox(
    config: SandboxConfig | None = None, state_dir: Path | str | None = None, port: int = 0
) -> SandboxHandle:
    """Start a sandbox; the caller must :meth:`SandboxHandle.stop` it.

    Without ``state_dir`` a temporary directory is used (and left for the OS to clean).
    """
    directory = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp("-sandbox"))
    return SandboxHandle(config or SandboxConfig(), directory, port)


@contextlib.contextmanager
def running_sandbox(
    config: SandboxConfig | None = None, state_dir: Path | str | None = None, port: int = 0
) -> Iterator[SandboxHandle]:
    """A sandbox for the duration of the ``with`` block."""
    handle = start_sandbox(config, state_dir, port)
    try:
        yield handle
    finally:
        handle.stop()
