"""SectigoConfig in memory: one SCM client per config, its readiness, and cached profiles.

The config handlers (``handlers/config.py``) call :meth:`ConfigRegistry.refresh` on every
create/update/resume and on a timer; certificate and profile handlers look their config up with
:meth:`ConfigRegistry.get`. Only the configs live here (a handful of objects), never certificates
or Secrets. The credentials are held only inside the SCM client; what this module keeps about
them is a hash to notice when the Secret changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import ValidationError

from . import policies
from .k8s import SecretData
from .models.config import ConfigSpec
from .scm import (
    ClientCertificate,
    Profile,
    ScmAuthenticationError,
    ScmClient,
    ScmConnection,
    ScmError,
    ScmPermanentError,
    header_safe,
)

Kind = Literal["ssl", "smime"]
CLOSE_GRACE_SECONDS = 120.0
"""How long a replaced SCM client stays open for the calls still running on it."""


class SecretReader(Protocol):
    """Reads a Secret (``k8s.Kube`` does)."""

    async def get_secret(self, namespace: str, name: str) -> SecretData | None: ...


@dataclass
class ConfigEntry:
    """What the operator knows about one SectigoConfig."""

    namespace: str
    name: str
    spec: ConfigSpec
    ready: bool = False
    reason: str = policies.REASON_CONFIG_NOT_READY
    message: str = "not checked yet"
    client: ScmClient | None = None
    fingerprint: str = ""
    checked_at: float = 0.0
    drift_checked_at: float = field(default_factory=time.monotonic)
    """When SCM was last asked for revoked certificates (starts at creation: the first check is
    one period later)."""
    secret_version: str = ""
    """resourceVersion of the credentials Secret of the last check."""
    checked_wall: float = 0.0
    """Wall-clock time of the last credentials check against SCM (``status.lastChecked``)."""
    profiles: dict[Kind, tuple[float, list[Profile]]] = field(default_factory=dict)
    profile_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def customer_uri(self) -> str:
        return self.spec.customer_uri

    async def profile_list(self, kind: Kind, max_age: float) -> list[Profile]:
        """SCM's profiles for ``kind``, cached for ``max_age`` seconds (one fetch at a time)."""
        async with self.profile_lock:
            cached = self.profiles.get(kind)
            if cached and time.monotonic() - cached[0] < max_age:
                return cached[1]
            assert self.client is not None
            api = self.client.ssl if kind == "ssl" else self.client.smime
            found = await api.types(self.spec.org_id)
            self.profiles[kind] = (time.monotonic(), found)
            return found


def _fingerprint(spec: ConfigSpec, secret: SecretData) -> str:
    digest = hashlib.sha256(spec.model_dump_json().encode())
    for key in sorted(secret.data):
        digest.update(key.encode() + b"\0" + hashlib.sha256(secret.data[key]).digest())
    return digest.hexdigest()


def _connection(spec: ConfigSpec, secret: SecretData) -> ScmConnection:
    """Build the SCM connection from the config and its Secret; ValueError names what is missing."""
    common = {
        "base_url": spec.url,
        "customer_uri": spec.customer_uri,
        "max_concurrency": spec.max_concurrent_requests,
    }
    if spec.credentials_secret_ref is not None:
        ref = spec.credentials_secret_ref
        login = secret.data.get(ref.login_key)
        password = secret.data.get(ref.password_key)
        missing = [k for k, v in ((ref.login_key, login), (ref.password_key, password)) if not v]
        if missing:
            raise ValueError(f"Secret {secret.name!r} has no (or an empty) key {missing[0]!r}")
        assert login is not None and password is not None
        try:
            login_text, password_text = login.decode().strip(), password.decode().strip()
        except UnicodeDecodeError:
            raise ValueError(f"Secret {secret.name!r}: login or password is not UTF-8") from None
        _one_line(secret.name, ref.login_key, login_text)
        _one_line(secret.name, ref.password_key, password_text)
        return ScmConnection(**common, login=login_text, password=password_text)
    ref2 = spec.client_certificate_secret_ref
    assert ref2 is not None
    login = secret.data.get(ref2.login_key)
    crt, key = secret.data.get("tls.crt"), secret.data.get("tls.key")
    for name, value in ((ref2.login_key, login), ("tls.crt", crt), ("tls.key", key)):
        if not value:
            raise ValueError(f"Secret {secret.name!r} has no (or an empty) key {name!r}")
    assert login is not None and crt is not None and key is not None
    login_text = login.decode("utf-8", "replace").strip()
    _one_line(secret.name, ref2.login_key, login_text)
    return ScmConnection(
        **common,
        login=login_text,
        client_certificate=ClientCertificate(certificate_pem=crt, private_key_pem=key),
    )


def _one_line(secret: str, key: str, text: str) -> None:
    """Credentials go in HTTP headers: a control character (a line break inside the value, as
    a multi-line file put into the Secret) cannot be sent, and must not reach an error text."""
    if not header_safe(text):
        raise ValueError(
            f"Secret {secret!r}: key {key!r} holds a control character (a line break inside "
            "the value?); SCM credentials are one line"
        )


class ConfigRegistry:
    """All SectigoConfigs this operator serves, keyed by (namespace, name)."""

    def __init__(self) -> None:
        self.guard: Callable[[], None] | None = None
        """Given to every SCM client: called before each order or revocation is sent (the
        operator's leadership check, set at start-up)."""
        self._entries: dict[tuple[str, str], ConfigEntry] = {}
        self._closing: list[asyncio.TimerHandle] = []

    def get(self, namespace: str, name: str) -> ConfigEntry | None:
        return self._entries.get((namespace, name))

    def __len__(self) -> int:
        return len(self._entries)

    def mark_failed(self, namespace: str, name: str, error: ScmError) -> None:
        """A certificate saw SCM reject the credentials: the next refresh asks SCM again."""
        entry = self._entries.get((namespace, name))
        if entry is not None:
            self._not_ready(
                entry,
                policies.REASON_AUTHENTICATION_FAILED,
                f"SCM rejected the credentials: {error}",
            )

    async def remove(self, namespace: str, name: str) -> None:
        entry = self._entries.pop((namespace, name), None)
        if entry and entry.client:
            await entry.client.aclose()

    async def close(self) -> None:
        for key in list(self._entries):
            await self.remove(*key)

    async def refresh(
        self,
        namespace: str,
        name: str,
        spec: ConfigSpec,
        kube: SecretReader,
        *,
        full_check_after: float,
        trusted: tuple[str, float] | None = None,
    ) -> ConfigEntry:
        """Re-read the credentials Secret and check them against SCM when needed.

        SCM is asked when the spec or the Secret changed, when the config is not Ready, or when
        the last check is older than ``full_check_after`` seconds. ``trusted`` is what the
        status of a Ready config says SCM accepted (the Secret's resourceVersion and the wall
        time of that check): a restarted operator takes it instead of asking SCM again while the
        Secret is unchanged and the check is younger than ``full_check_after``.
        """
        key = (namespace, name)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = ConfigEntry(namespace, name, spec)
        async with entry.refresh_lock:  # the timer and the change handlers may overlap
            return await self._refresh(entry, spec, kube, full_check_after, trusted)

    async def _refresh(
        self,
        entry: ConfigEntry,
        spec: ConfigSpec,
        kube: SecretReader,
        full_check_after: float,
        trusted: tuple[str, float] | None = None,
    ) -> ConfigEntry:
        namespace = entry.namespace
        ref = spec.credentials_secret_ref or spec.client_certificate_secret_ref
        assert ref is not None  # the CRD requires exactly one
        secret = await kube.get_secret(namespace, ref.name)
        if secret is None:
            await self._set_client(entry, spec, None, "")
            return self._not_ready(
                entry, policies.REASON_CREDENTIALS_MISSING, f"Secret {ref.name!r} not found"
            )
        fingerprint = _fingerprint(spec, secret)
        fresh = time.monotonic() - entry.checked_at < full_check_after
        if entry.ready and entry.fingerprint == fingerprint and fresh:
            entry.secret_version = secret.resource_version  # e.g. only its labels changed
            return entry
        try:
            connection = _connection(spec, secret)
        except (ValueError, ValidationError) as exc:
            await self._set_client(entry, spec, None, "")
            if isinstance(exc, ValidationError):
                fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
                if "base_url" in fields:  # the CRD's rules keep most of these out
                    return self._not_ready(
                        entry,
                        policies.REASON_INVALID_SPEC,
                        "spec.url: "
                        + "; ".join(
                            e["msg"] for e in exc.errors() if e["loc"][:1] == ("base_url",)
                        ),
                    )
                message = f"Secret {ref.name!r} does not hold usable credentials"
            else:
                message = str(exc)
            return self._not_ready(entry, policies.REASON_CREDENTIALS_MISSING, message)
        first = entry.client is None
        if entry.fingerprint != fingerprint or entry.client is None:
            try:
                client = ScmClient(connection, guard=self.guard)  # loads a client certificate
            except (ssl.SSLError, OSError, ValueError) as exc:
                await self._set_client(entry, spec, None, "")
                return self._not_ready(
                    entry,
                    policies.REASON_CREDENTIALS_MISSING,
                    f"Secret {ref.name!r}: tls.crt and tls.key are not a usable certificate and "
                    f"key ({type(exc).__name__})",
                )
            await self._set_client(entry, spec, client, fingerprint)
        assert entry.client is not None
        entry.secret_version = secret.resource_version
        if first and trusted is not None and trusted[0] == secret.resource_version:
            age = time.time() - trusted[1]
            if 0 <= age < full_check_after:
                entry.checked_at, entry.checked_wall = time.monotonic() - age, trusted[1]
                entry.ready, entry.reason = True, policies.REASON_CONNECTED
                entry.message = (
                    f"credentials accepted by {spec.url} for customer {spec.customer_uri!r}"
                )
                return entry
        entry.checked_at = time.monotonic()
        entry.checked_wall = time.time()
        kind: Kind = "ssl"
        try:
            await entry.client.check_credentials(kind)
        except ScmAuthenticationError as exc:
            return self._not_ready(
                entry, policies.REASON_AUTHENTICATION_FAILED, f"SCM rejected the credentials: {exc}"
            )
        except ScmPermanentError as exc:
            return self._not_ready(entry, policies.REASON_SCM_ERROR, str(exc))
        except ScmError as exc:
            return self._not_ready(
                entry, policies.REASON_SCM_UNAVAILABLE, f"SCM not reachable: {exc}"
            )
        entry.ready, entry.reason = True, policies.REASON_CONNECTED
        entry.message = f"credentials accepted by {spec.url} for customer {spec.customer_uri!r}"
        return entry

    async def _set_client(
        self, entry: ConfigEntry, spec: ConfigSpec, client: ScmClient | None, fingerprint: str
    ) -> None:
        old = entry.client
        entry.client, entry.spec, entry.fingerprint = client, spec, fingerprint
        if old is not None and old is not client:
            # Certificates may still have calls in flight on the old client (even an enroll):
            # close it only after they had time to finish.
            task = asyncio.get_running_loop().call_later(
                CLOSE_GRACE_SECONDS, lambda: asyncio.ensure_future(old.aclose())
            )
            now = asyncio.get_running_loop().time()
            self._closing = [t for t in self._closing if not t.cancelled() and t.when() > now]
            self._closing.append(task)
        entry.profiles.clear()

    @staticmethod
    def _not_ready(entry: ConfigEntry, reason: str, message: str) -> ConfigEntry:
        entry.ready, entry.reason, entry.message = False, reason, message
        return entry
