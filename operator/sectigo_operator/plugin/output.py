"""How ``kubectl sectigo`` prints: JSON, YAML, or aligned tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click
import yaml


def emit(obj: Any, output: str | None, table: Callable[[], None]) -> None:
    if output == "json":
        click.echo(json.dumps(obj, indent=2, default=str))
    elif output == "yaml":
        click.echo(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip())
    else:
        table()


def report(report: dict[str, Any]) -> None:
    rows([(k + ":", ", ".join(v) if isinstance(v, list) else str(v)) for k, v in report.items()])


def rows(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def status_table(items: list[dict[str, Any]]) -> None:
    table = [("NAMESPACE", "NAME", "READY", "REASON", "STATE", "SCM ID", "EXPIRES", "RENEWAL")]
    for item in items:
        st = item.get("status", {})
        ready = condition(st, "Ready")
        table.append(
            (
                item["metadata"]["namespace"],
                item["metadata"]["name"],
                ready.get("status", "Unknown"),
                ready.get("reason", ""),
                st.get("state", ""),
                str(st.get("sslId") or st.get("orderNumber") or ""),
                st.get("notAfter", ""),
                st.get("renewalTime", ""),
            )
        )
    rows(table)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c.get("type") == type_), {})


def status_detail(cert: dict[str, Any]) -> None:
    st, meta = cert.get("status", {}), cert["metadata"]
    fields = [
        ("Certificate", f"{meta['namespace']}/{meta['name']}"),
        ("State", st.get("state", "")),
        ("SCM status", st.get("scmStatus", "")),
        ("SCM id", str(st.get("sslId") or st.get("orderNumber") or "")),
        ("Unique id", st.get("certUniqueId", "")),
        ("Serial", st.get("serialNumber", "")),
        ("Not after", st.get("notAfter", "")),
        ("Renewal time", st.get("renewalTime", "")),
        ("Secret", cert["spec"].get("secretName", "")),
    ]
    rows([(k + ":", v) for k, v in fields])
    click.echo("\nConditions:")
    conditions = [("TYPE", "STATUS", "REASON", "MESSAGE")]
    conditions += [
        (c["type"], c["status"], c.get("reason", ""), c.get("message", ""))
        for c in st.get("conditions", [])
    ]
    rows(conditions)
    click.echo("\nHistory:")
    rows(
        [("TIME", "STATE", "MESSAGE")]
        + [(h["timestamp"], h["status"], h.get("message") or "") for h in st.get("history", [])]
    )
