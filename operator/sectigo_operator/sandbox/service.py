"""The sandbox's state and operations, independent of HTTP.

:class:`Sandbox` owns the configuration, runtime settings (changed through the admin endpoint),
the order store, the CA, the fault book and the counters. Handlers validate requests and call it;
it applies the lifecycle rules and signs certificates lazily, when an order is looked at and due.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from . import errors, lifecycle
from .ca import CertificateAuthority, LeafRequest, load_or_create_ca
from .config import Profile, SandboxConfig
from .csr import ParsedCsr, parse_csr
from .faults import FaultBook
from .formats import render
from .names import dedupe_names, serial_text
from .store import Kind, Order, OrderStore

_RENEW_ID_ALPHABET = string.ascii_letters + string.digits
REVOCATION_REASONS = frozenset({0, 1, 3, 4, 5})

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Settings:
    """Runtime knobs; start from the configuration, changed through the admin endpoint."""

    pending_code: int
    strict_reason_code: bool
    issue_delay_seconds: float
    issue_after_collects: int
    approval_mode: str
    reject_next: int
    clock_offset: float = 0.0
    lifetime_seconds: int = 0
    """When > 0, certificates are signed for this many seconds instead of ``term`` days (so a
    test can reach a renewal window or an expiry)."""

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Settings:
        return cls(
            pending_code=config.pending_code,
            strict_reason_code=config.strict_reason_code,
            issue_delay_seconds=config.issue_delay_seconds,
            issue_after_collects=config.issue_after_collects,
            approval_mode=config.approval_mode,
            reject_next=config.reject_next,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "pendingCode": self.pending_code,
            "strictReasonCode": self.strict_reason_code,
            "issueDelaySeconds": self.issue_delay_seconds,
            "issueAfterCollects": self.issue_after_collects,
            "approvalMode": self.approval_mode,
            "rejectNext": self.reject_next,
            "clockOffsetSeconds": self.clock_offset,
            "lifetimeSeconds": self.lifetime_seconds,
        }


@dataclasses.dataclass
class Counters:
    """Call counters (in memory; a restart or reset zeroes them)."""

    enrolls_by_common_name: Counter[str] = dataclasses.field(default_factory=Counter)
    enrolls_by_email: Counter[str] = dataclasses.field(default_factory=Counter)
    calls_by_endpoint: Counter[str] = dataclasses.field(default_factory=Counter)
    renewals: int = 0
    replacements: int = 0
    revocations: int = 0


class Sandbox:
    """State and operations of one sandbox SCM."""

    def __init__(
        self, config: SandboxConfig, state_dir: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self._clock = clock
        self.ca: CertificateAuthority = load_or_create_ca(state_dir / "ca")
        self.store = OrderStore(state_dir / "sandbox.sqlite3")
        self.settings = Settings.from_config(config)
        self.faults = FaultBook()
        for rule in config.faults:
            self.faults.add(rule)
        self.counters = Counters()

    def close(self) -> None:
        self.store.close()

    def now(self) -> float:
        return self._clock() + self.settings.clock_offset

    def reset(self) -> None:
        """Forget orders, counters, faults and runtime settings; keep the CA."""
        self.store.clear()
        self.settings = Settings.from_config(self.config)
        self.faults.clear()
        for rule in self.config.faults:
            self.faults.add(rule)
        self.counters = Counters()

    # -- profiles and timers -------------------------------------------------------------

    def profile(self, order: Order) -> Profile | None:
        if order.kind == "ssl":
            return self.config.ssl_profile(order.cert_type)
        return self.config.smime_profile(order.cert_type)

    def _approval_required(self, profile: Profile) -> bool:
        mode = self.settings.approval_mode
        return mode == "always" or (mode == "profile" and profile.approval_required)

    def _delay(self, profile: Profile | None) -> float:
        if profile is not None and profile.issue_delay_seconds is not None:
            return profile.issue_delay_seconds
        return self.settings.issue_delay_seconds

    def _collects(self, profile: Profile | None) -> int:
        if profile is not None and profile.issue_after_collects is not None:
            return profile.issue_after_collects
        return self.settings.issue_after_collects

    def _start(self, order: Order, profile: Profile) -> None:
        lifecycle.start(
            order,
            self._approval_required(profile),
            self._delay(profile),
            self._collects(profile),
            self.now(),
        )

    # -- creating orders -----------------------------------------------------------------

    def enroll(self, order: Order, profile: Profile) -> Order:
        """Store a validated new order (SSL or S/MIME) at the start of its lifecycle."""
        order.requested = self.now()
        if order.kind == "ssl":
            order.renew_id = "".join(secrets.choice(_RENEW_ID_ALPHABET) for _ in range(20))
            self.counters.enrolls_by_common_name[order.common_name.lower()] += 1
        else:
            self.counters.enrolls_by_email[order.email.lower()] += 1
        self._start(order, profile)
        return self.store.insert(order)

    def renew(self, source: Order, csr: ParsedCsr | None) -> Order:
        """A new order copying ``source`` (optionally with a new CSR); marks the source renewed."""
        if source.status not in ("Issued", "Expired"):
            raise errors.not_issued()
        profile = self.profile(source)
        if profile is None:
            raise errors.invalid_profile()
        if not profile.allow_renew:
            raise errors.renew_not_allowed()
        new = dataclasses.replace(
            source,
            id=0,
            order_number=0,
            renew_id="",
            collect_calls=0,
            renewed=False,
            renewed_date=None,
            renewed_from=source.id,
            revoked=None,
            declined=None,
            replaced=None,
            reason_code=None,
        )
        if csr is not None:
            new.csr = csr.pem
            new.key_type = csr.key_type
        new.requested = self.now()
        if new.kind == "ssl":
            new.renew_id = "".join(secrets.choice(_RENEW_ID_ALPHABET) for _ in range(20))
        self._start(new, profile)
        source.renewed = True
        source.renewed_date = self.now()
        self.store.insert(new)
        self.store.update(source)
        self.counters.renewals += 1
        return new

    def replace(
        self, order: Order, csr: ParsedCsr, common_name: str | None, sans: list[str] | None
    ) -> None:
        if order.status not in ("Issued", "Expired"):
            raise errors.not_issued()
        profile = self.profile(order)
        if profile is None:
            raise errors.invalid_profile()
        order.csr = csr.pem
        order.key_type = csr.key_type
        if common_name:
            order.common_name = common_name
        if sans is not None:
            order.sans = dedupe_names([order.common_name, *sans]) if order.kind == "ssl" else sans
        order.replaced = self.now()
        order.collect_calls = 0
        self._start(order, profile)
        self.store.update(order)
        self.counters.replacements += 1

    # -- reading orders (lifecycle advances lazily here) ----------------------------------

    def get(self, order_id: int, kind: Kind | None = None) -> Order | None:
        order = self.store.get(order_id, kind)
        return self.advance(order) if order else None

    def require(self, order_id: int, kind: Kind | None = None) -> Order:
        order = self.get(order_id, kind)
        if order is None:
            raise errors.not_found(order_id)
        return order

    def advance(self, order: Order) -> Order:
        """Apply due transitions (issue, expire) and persist them."""
        now = self.now()
        changed = False
        if lifecycle.due_for_issue(order, now):
            if self.settings.reject_next > 0:
                self.settings.reject_next -= 1
                order.status = "Rejected"
            else:
                try:
                    self._issue(order, now)
                except ValueError as exc:  # unsignable (stored by an older sandbox): SCM rejects
                    log.warning("order %s cannot be signed (%s): Rejected", order.id, exc)
                    order.status = "Rejected"
            changed = True
        if lifecycle.expired(order, now):
            order.status = "Expired"
            changed = True
        if changed:
            self.store.update(order)
        return order

    def select(self, kind: Kind, **equals: object) -> list[Order]:
        return [self.advance(o) for o in self.store.select(kind, **equals)]

    def _issue(self, order: Order, now: float) -> None:
        csr = parse_csr(order.csr)
        serial = x509.random_serial_number()
        not_before = dt.datetime.fromtimestamp(int(now), dt.UTC)
        not_after = not_before + (
            dt.timedelta(seconds=self.settings.lifetime_seconds)
            if self.settings.lifetime_seconds > 0
            else dt.timedelta(days=order.term)
        )
        if order.kind == "ssl":
            request = LeafRequest(
                csr.public_key,
                order.common_name,
                tuple(order.sans),
                (),
                not_before,
                not_after,
                client=False,
                serial=serial,
            )
        else:
            request = LeafRequest(
                csr.public_key,
                order.common_name,
                (),
                (order.email, *order.secondary_emails),
                not_before,
                not_after,
                client=True,
                serial=serial,
            )
        cert = self.ca.sign(request)
        order.cert_pem = cert.public_bytes(Encoding.PEM).decode()
        order.serial = serial_text(serial)
        order.issued = now
        order.not_after = not_after.timestamp()
        order.status = "Issued"

    # -- collect ----------------------------------------------------------------------------

    def collect(self, order: Order, fmt: str) -> tuple[bytes, str]:
        """Certificate bytes and a file name, or the SCM error for the order's state."""
        order.collect_calls += 1
        try:
            if order.status in ("Issued", "Expired"):
                cert = x509.load_pem_x509_certificate(order.cert_pem.encode())
                body, ext = render(fmt, cert, self.ca.chain)
                return body, f"{_file_stem(order)}.{ext}"
            if order.status == "Revoked":
                raise errors.revoked_download()
            if order.status in lifecycle.FAILED:
                raise errors.not_collectable()
            order.pending_answers += 1
            raise errors.pending(self.settings.pending_code)
        finally:
            self.store.update(order)

    # -- approval and revocation ----------------------------------------------------------

    def approve(self, order: Order) -> None:
        if not lifecycle.can_approve(order):
            raise errors.cannot_approve(order.status)
        lifecycle.approve(order, self._delay(self.profile(order)), self.now())
        self.store.update(order)

    def decline(self, order: Order) -> None:
        if not lifecycle.can_approve(order):
            raise errors.cannot_approve(order.status)
        order.status = "Declined"
        order.declined = self.now()
        self.store.update(order)

    def revoke(self, order: Order, reason_code: int) -> None:
        if order.status == "Revoked":
            raise errors.already_revoked()
        if order.status not in ("Issued", "Expired"):
            raise errors.only_issued_revocable()
        order.status = "Revoked"
        order.revoked = self.now()
        order.reason_code = reason_code
        self.store.update(order)
        self.counters.revocations += 1

    def reason_code(self, body: dict[str, Any]) -> int:
        """``reasonCode`` as a number or numeric string in {0,1,3,4,5}; default 0 unless strict."""
        raw = body.get("reasonCode")
        if raw is None:
            if self.settings.strict_reason_code:
                raise errors.missing_field("reasonCode")
            return 0
        if isinstance(raw, bool):
            raise errors.invalid_reason_code()
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            raw = int(raw.strip())
        if not isinstance(raw, int) or raw not in REVOCATION_REASONS:
            raise errors.invalid_reason_code()
        return raw

    # -- admin-only transitions -----------------------------------------------------------

    def force_issue(self, order: Order) -> None:
        if order.status in ("Issued",):
            return
        self._issue(order, self.now())
        self.store.update(order)

    def reject(self, order: Order) -> None:
        if order.status not in lifecycle.PENDING:
            raise errors.cannot_approve(order.status)
        order.status = "Rejected"
        self.store.update(order)

    def expire(self, order: Order) -> None:
        if order.status != "Issued":
            raise errors.not_issued()
        order.status = "Expired"
        self.store.update(order)


def _file_stem(order: Order) -> str:
    base = order.common_name if order.kind == "ssl" else order.email
    return "".join(c if c.isalnum() else "_" for c in base.replace("*", "star")) or str(order.id)
