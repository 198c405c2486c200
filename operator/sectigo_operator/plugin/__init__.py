"""``kubectl sectigo``: the command-line companion (installed as ``kubectl-sectigo``).

Read-only commands show what the operator knows (``status``, ``inspect``, ``check-config``);
the others change the spec exactly as a GitOps tool would (``renew``, ``replace``, ``revoke`` set
the matching one-shot request with a fresh id; ``import`` writes a SectigoCertificate), so the
CLI and Git never fight. It honours ``--kubeconfig``, ``--context``, ``-n`` and ``-A``, prints
``-o json|yaml`` on request, and fails with one line (no traceback) on a missing object or a
refused request. It never prints a private key.
"""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, datetime
from typing import Any

import click
import yaml

from .. import pki
from ..models import GROUP, VERSION
from . import output as out
from .api import CERTS, CONFIGS, Api


class Options:
    """The global options, handed to every command."""

    def __init__(self, api: Api, namespace: str | None, all_namespaces: bool) -> None:
        self.api = api
        self.namespace = namespace or api.default_namespace
        self.all_namespaces = all_namespaces


pass_options = click.make_pass_decorator(Options)
OUTPUT = click.option(
    "-o", "--output", type=click.Choice(["json", "yaml"]), default=None, help="json or yaml."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kubeconfig", default=None, help="Path to the kubeconfig file.")
@click.option("--context", default=None, help="The kubeconfig context to use.")
@click.option("-n", "--namespace", default=None, help="Namespace (default: the context's).")
@click.option("-A", "--all-namespaces", is_flag=True, help="All namespaces (status only).")
@click.pass_context
def main(
    ctx: click.Context,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
) -> None:
    """kubectl sectigo: look at and act on SectigoCertificates."""
    ctx.obj = Options(Api(kubeconfig, context), namespace, all_namespaces)


@main.command()
@click.argument("name", required=False)
@OUTPUT
@pass_options
def status(options: Options, name: str | None, output: str | None) -> None:
    """Conditions, history, SCM ids, expiry and renewal time of NAME (or a table of all)."""
    if name is None:
        namespace = None if options.all_namespaces else options.namespace
        items = options.api.list(CERTS, namespace)
        out.emit(items, output, lambda: out.status_table(items))
        return
    cert = options.api.get(CERTS, options.namespace, name)
    out.emit(cert.get("status", {}), output, lambda: out.status_detail(cert))


@main.command()
@click.argument("name")
@OUTPUT
@pass_options
def inspect(options: Options, name: str, output: str | None) -> None:
    """Decode NAME's Secret: subject, names, issuer, dates, key match, chain."""
    cert = options.api.get(CERTS, options.namespace, name)
    data = options.api.secret(options.namespace, cert["spec"]["secretName"])
    try:
        certs = pki.parse_pem_chain(data.get("tls.crt", b""))
        certs += pki.parse_pem_chain(data["ca.crt"]) if data.get("ca.crt") else []
        chain = pki.order_chain(certs)
    except pki.PkiError as exc:
        raise click.ClickException(f"Secret {cert['spec']['secretName']!r}: {exc}") from None
    info = pki.cert_info(chain.leaf)
    try:
        raw = data.get("tls.key")
        key = pki.load_private_key(raw, trusted=True) if raw else None
    except pki.PkiError:
        key = None
    report = {
        "secret": cert["spec"]["secretName"],
        "subject": chain.leaf.subject.rfc4514_string(),
        "commonName": info.common_name,
        "dnsNames": list(info.dns_names),
        "ipAddresses": list(info.ip_addresses),
        "emailAddresses": list(info.email_addresses),
        "issuer": chain.leaf.issuer.rfc4514_string(),
        "serialNumber": info.serial_number,
        "notBefore": info.not_before.isoformat(),
        "notAfter": info.not_after.isoformat(),
        "keyType": str(info.key_spec) if info.key_spec else "",
        "keyMatches": bool(key is not None and pki.cert_matches_key(chain.leaf, key)),
        "chain": [c.subject.rfc4514_string() for c in (chain.leaf, *chain.intermediates)]
        + ([chain.root.subject.rfc4514_string()] if chain.root else []),
        "extraKeys": sorted(k for k in data if k not in ("tls.crt", "tls.key", "ca.crt")),
    }

    out.emit(report, output, lambda: out.report(report))


def _request_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@main.command()
@click.argument("name")
@pass_options
def renew(options: Options, name: str) -> None:
    """Renew NAME now (sets spec.renewRequest with a fresh id)."""
    options.api.get(CERTS, options.namespace, name)
    request_id = _request_id()
    options.api.patch_spec(options.namespace, name, {"renewRequest": {"id": request_id}})
    click.echo(f"sectigocertificate/{name}: renewRequest {request_id}")


@main.command()
@click.argument("name")
@click.option("--reason", required=True, help="Reason sent to SCM (1-512 characters).")
@pass_options
def replace(options: Options, name: str, reason: str) -> None:
    """Replace NAME at SCM (sets spec.replaceRequest with a fresh id)."""
    options.api.get(CERTS, options.namespace, name)
    request_id = _request_id()
    options.api.patch_spec(
        options.namespace, name, {"replaceRequest": {"id": request_id, "reason": reason}}
    )
    click.echo(f"sectigocertificate/{name}: replaceRequest {request_id}")


@main.command()
@click.argument("name")
@click.option("--reason", required=True, help="Reason sent to SCM (1-512 characters).")
@click.option(
    "--reason-code",
    type=click.Choice(["0", "1", "3", "4", "5"]),
    default="0",
    show_default=True,
    help="0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, "
    "5 cessationOfOperation.",
)
@pass_options
def revoke(options: Options, name: str, reason: str, reason_code: str) -> None:
    """Revoke NAME at SCM (sets spec.revokeRequest with a fresh id). Irreversible."""
    options.api.get(CERTS, options.namespace, name)
    request_id = _request_id()
    request = {"id": request_id, "reasonCode": int(reason_code), "reason": reason}
    options.api.patch_spec(options.namespace, name, {"revokeRequest": request})
    click.echo(f"sectigocertificate/{name}: revokeRequest {request_id}")


@main.command("import")
@click.argument("name")
@click.option("--config", "config_name", required=True, help="The SectigoConfig to use.")
@click.option("--ssl-id", type=int, default=None, help="SCM sslId of an SSL certificate.")
@click.option("--order-number", type=int, default=None, help="Order number of a client one.")
@click.option(
    "--key-secret",
    default=None,
    help="Secret holding the certificate's key (without it: a certificate-only Secret).",
)
@click.option("--secret-name", default=None, help="Secret to write (default: NAME-tls).")
@click.option("--common-name", default=None, help="SSL: the certificate's common name.")
@click.option("--email", default=None, help="Client: the person's e-mail.")
@click.option("--first-name", default=None, help="Client: first name.")
@click.option("--last-name", default=None, help="Client: last name.")
@click.option("--dry-run", is_flag=True, help="Print the SectigoCertificate, create nothing.")
@pass_options
def import_(
    options: Options,
    name: str,
    config_name: str,
    ssl_id: int | None,
    order_number: int | None,
    key_secret: str | None,
    secret_name: str | None,
    common_name: str | None,
    email: str | None,
    first_name: str | None,
    last_name: str | None,
    dry_run: bool,
) -> None:
    """Write a SectigoCertificate that adopts an existing SCM certificate (orders nothing)."""
    if (ssl_id is None) == (order_number is None):
        raise click.UsageError("give exactly one of --ssl-id and --order-number")
    spec: dict[str, Any] = {
        "configRef": {"name": config_name},
        "certificateType": "ssl" if ssl_id is not None else "client",
        "secretName": secret_name or f"{name}-tls",
        "import": {"sslId": ssl_id} if ssl_id is not None else {"orderNumber": order_number},
    }
    optional = {
        "commonName": common_name,
        "email": email,
        "firstName": first_name,
        "lastName": last_name,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    if key_secret is not None:
        spec["privateKeySecretRef"] = {"name": key_secret}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SectigoCertificate",
        "metadata": {"name": name, "namespace": options.namespace},
        "spec": spec,
    }
    if dry_run:
        click.echo(yaml.safe_dump(body, sort_keys=False).rstrip())
        return
    options.api.create(options.namespace, body)
    click.echo(f"sectigocertificate/{name} created (importing {ssl_id or order_number})")


@main.command("check-config")
@click.argument("name")
@OUTPUT
@pass_options
def check_config(options: Options, name: str, output: str | None) -> None:
    """Is SectigoConfig NAME Ready, when was it checked, and which certificates use it?"""
    config = options.api.get(CONFIGS, options.namespace, name)
    users = [
        c["metadata"]["name"]
        for c in options.api.list(CERTS, options.namespace)
        if c["spec"].get("configRef", {}).get("name") == name
    ]
    st = config.get("status", {})
    ready = out.condition(st, "Ready")
    report = {
        "name": name,
        "url": config["spec"].get("url"),
        "customerUri": config["spec"].get("customerUri"),
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "message": ready.get("message", ""),
        "lastChecked": st.get("lastChecked", ""),
        "certificates": users,
    }

    out.emit(report, output, lambda: out.report(report))
    if report["ready"] != "True":
        sys.exit(1)


if __name__ == "__main__":
    main()
