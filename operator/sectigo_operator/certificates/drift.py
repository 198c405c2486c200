"""SCM-side drift: certificates revoked at SCM outside the cluster.

Once per ``scm_drift_check_seconds`` and config, one batched list per SCM kind asks SCM which
certificates are revoked (SSL ``status=Revoked``, client ``state=revoked``), whatever their
number: SCM's list endpoints page by 200, so the cost is one call per 200 revoked certificates,
never one per managed certificate. The answer is kept in ``Context.revoked``; every certificate
of that config whose order is in it is woken, and its step reports ``Ready=False`` reason
``Revoked`` with a Warning Event (``trigger.revoked_at_scm``).
"""

from __future__ import annotations

from ..configs import ConfigEntry, Kind
from ..scm import SmimeFilter, SslFilter
from .context import Context


async def check(ctx: Context, entry: ConfigEntry) -> int:
    """Refresh the revoked ids of one config and wake its affected certificates; return how many."""
    assert entry.client is not None
    key = (entry.namespace, entry.name)
    ours = {
        (kind, number): cert
        for (ns, cert), (config, kind, number) in ctx.orders.items()
        if ns == entry.namespace and config == entry.name
    }
    kinds = {kind for kind, _ in ours}
    revoked: set[tuple[Kind, int]] = set()  # SSL ids and client order numbers may coincide
    if "ssl" in kinds:
        revoked |= {
            ("ssl", item.ssl_id)
            async for item in entry.client.ssl.search_all(SslFilter(status="Revoked"))
        }
    if "smime" in kinds:
        revoked |= {
            ("smime", item.order_number)
            async for item in entry.client.smime.search_all(SmimeFilter(state="revoked"))
            if item.order_number is not None
        }
    ctx.revoked[key] = frozenset(revoked)
    hit = [cert for order, cert in ours.items() if order in revoked]
    for cert in hit:
        ctx.wake(entry.namespace, cert, ctx.now())
    return len(hit)
