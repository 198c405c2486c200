"""Certificates: one SectigoCertificate's lifecycle, one job per module (docs/design.md).

``reconcile.reconcile`` is the entry point the handlers call. It gathers every input once
(``gather``), asks the pure trigger chain what to do (``trigger``), and runs the one job that
answer names: place an order, renew or replace (``requests``, with ``keys`` for key material and
``kinds`` for the SSL / client differences), collect and store (``issuing``), or report that the
Secret is fine (``readiness``). ``status`` holds the status writer; ``outcomes`` the operator's
own results (wait, stall); ``scheduler`` wakes a certificate when its renewal is due.
"""

from __future__ import annotations

from .context import Context, Emit
from .outcomes import RetryLater, Stalled
from .reconcile import reconcile

__all__ = ["Context", "Emit", "RetryLater", "Stalled", "reconcile"]
