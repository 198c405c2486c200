"""Pure lifecycle rules: statuses, what a collect answers, when an order becomes Issued.

::

    enroll ─► Requested ──approve──► Approved ─┐          (approval required)
         └──► Applied ─────────────────────────┴─► Issued ─► Revoked / Expired
    Requested ──decline──► Declined      Applied/Approved ──reject──► Rejected
    Issued ──replace──► Applied/Requested (same id, new key and serial)
    Issued ──renew──► NEW order (source gets renewed=true)

An order in ``Applied``/``Approved`` is issued when ``now >= ready_at`` and it has already answered
``needed_collects`` pending collects. Functions take ``now`` (epoch seconds); no clock reads.
"""

from __future__ import annotations

from typing import Final

from .store import Order

PENDING: Final = frozenset({"Init", "Requested", "Approved", "SAApproved", "Applied"})
FAILED: Final = frozenset({"Declined", "Rejected", "Invalid"})
WAITING_FOR_CA: Final = frozenset({"Approved", "SAApproved", "Applied"})

_SMIME_STATES: Final = {
    "Init": "created",
    "Requested": "requested",
    "Approved": "requested",
    "SAApproved": "requested",
    "Applied": "requested",
    "Issued": "issued",
    "Revoked": "revoked",
    "Expired": "expired",
    "Declined": "rejected",
    "Rejected": "rejected",
    "Invalid": "rejected",
    "Replaced": "revoked",
}


def smime_state(status: str) -> str:
    """The S/MIME lower-case state for an SSL-vocabulary status."""
    return _SMIME_STATES.get(status, "blank")


def start(order: Order, approval_required: bool, delay: float, collects: int, now: float) -> None:
    """Put an order (new, renewed or replaced) at the start of issuance."""
    order.status = "Requested" if approval_required else "Applied"
    order.serial = ""
    order.cert_pem = ""
    order.issued = None
    order.not_after = None
    order.approved = None
    order.pending_answers = 0
    order.needed_collects = collects
    order.ready_at = now + delay


def approve(order: Order, delay: float, now: float) -> None:
    order.status = "Approved"
    order.approved = now
    order.ready_at = now + delay
    order.pending_answers = 0


def due_for_issue(order: Order, now: float) -> bool:
    return (
        order.status in WAITING_FOR_CA
        and now >= order.ready_at
        and order.pending_answers >= order.needed_collects
    )


def expired(order: Order, now: float) -> bool:
    return order.status == "Issued" and order.not_after is not None and now >= order.not_after


def can_approve(order: Order) -> bool:
    return order.status == "Requested"
