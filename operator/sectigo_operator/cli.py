"""The ``sectigo-operator`` command line.

Sub-commands are thin: each parses its options and hands over to the module that does the work
(``run`` to Kopf with our handlers, ``sandbox-scm`` to the sandbox server, ``control-plane`` to the
local control plane used by tests and the demo, ``crds`` to the CRD generator).
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sectigo-operator")
def main() -> None:
    """Manage Sectigo Certificate Manager certificates from Kubernetes."""


def _host_port(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--http-address`` checked before anything starts: host:port."""
    from sectigo_operator.serving import split_address

    if value is not None:
        try:
            split_address(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@main.command("run")
@click.option("-n", "--namespace", "namespaces", multiple=True, help="Watch only these namespaces.")
@click.option(
    "--http-address",
    envvar="SECTIGO_OPERATOR_HTTP_ADDRESS",
    default=None,
    callback=_host_port,
    help="host:port for /healthz, /readyz and /metrics (e.g. 0.0.0.0:8080; unset: off).",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    envvar="SECTIGO_OPERATOR_LEADER_ELECT",
    default=False,
    show_default=True,
    help="Run as one of several replicas: only the holder of a coordination.k8s.io Lease works.",
)
@click.option(
    "--lease-namespace",
    envvar="POD_NAMESPACE",
    default="default",
    show_default=True,
    help="Namespace of the leader Lease (in a pod: its own namespace).",
)
@click.option("--lease-name", default="sectigo-operator", show_default=True)
@click.option(
    "--lease-duration",
    type=click.FloatRange(min=3.0),
    default=15.0,
    show_default=True,
    help="Seconds a standby waits on an unrenewed Lease; the leader stops acting after 2/3.",
)
@click.option(
    "--identity",
    envvar="POD_NAME",
    default=None,
    help="This replica's name in the Lease (default: host name and pid).",
)
@click.option(
    "--log-format",
    type=click.Choice(["plain", "full", "json"]),
    envvar="SECTIGO_OPERATOR_LOG_FORMAT",
    default="full",
    show_default=True,
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run_operator(
    namespaces: tuple[str, ...],
    http_address: str | None,
    leader_elect: bool,
    lease_namespace: str,
    lease_name: str,
    lease_duration: float,
    identity: str | None,
    log_format: str,
    verbose: bool,
) -> None:
    """Run the operator against the current kubeconfig (or in-cluster config)."""
    from sectigo_operator import runner
    from sectigo_operator.leadership import LeaseTiming

    election = None
    if leader_elect:
        timing = LeaseTiming(
            lease_duration=lease_duration,
            renew_deadline=lease_duration * 2 / 3,
            retry_period=lease_duration * 2 / 15,
        )
        election = runner.LeaderElection(lease_namespace, lease_name, timing=timing)
        if identity:
            election = runner.LeaderElection(lease_namespace, lease_name, identity, timing)
    options = runner.RunOptions(
        namespaces=namespaces,
        verbose=verbose,
        log_format=log_format,  # type: ignore[arg-type]
        http_address=http_address,
        leader_election=election,
    )
    raise SystemExit(runner.run(options))


@main.command("sandbox-scm")
@click.option(
    "--port",
    type=int,
    default=8843,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--state-dir",
    default=".sandbox-scm",
    show_default=True,
    help="Directory for the CA and the orders database (kept across restarts).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML/JSON configuration file (profiles, credentials, delays, faults).",
)
@click.option("--issue-delay", type=float, help="Seconds from Applied/Approved to Issued.")
@click.option(
    "--issue-after-collects", type=int, help="Pending collect answers before an order is Issued."
)
@click.option(
    "--approval",
    type=click.Choice(["profile", "always", "never"]),
    help="Who needs approval: per profile (default), every order, or none.",
)
@click.option(
    "--pending-code",
    type=click.Choice(["0", "-1400", "-183"]),
    help="Error code of the pending collect answer.",
)
@click.option(
    "--strict-reason-code/--lenient-reason-code", default=None, help="Require reasonCode on revoke."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help='A fault rule as JSON, e.g. \'{"kind":"error","path":"/api/ssl/v1/enroll"}\'.',
)
@click.option("--background", is_flag=True, help="Detach; print the URL once listening.")
@click.option("--pid-file", help="Write the server's pid here (default in the state dir).")
@click.option("--log-file", help="Log here (background default: <state-dir>/sandbox-scm.log).")
@click.option("--print-config", is_flag=True, help="Print the effective configuration and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def sandbox_scm(pending_code: str | None, faults: tuple[str, ...], **options: object) -> None:
    """Run the sandbox SCM (SCM REST API emulator with its own CA) on 127.0.0.1."""
    from sectigo_operator.sandbox.launcher import LaunchOptions, launch

    opts = LaunchOptions(
        pending_code=int(pending_code) if pending_code is not None else None,
        faults=list(faults),
        **options,  # type: ignore[arg-type]
    )
    raise SystemExit(launch(opts))


@main.command("crds")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Repository root (crds/ and docs/api.md are written below it).",
)
@click.option("--check", is_flag=True, help="Only compare; exit 1 when a generated file is stale.")
def crds(root: str, check: bool) -> None:
    """Generate crds/*.yaml (and the field reference in docs/api.md) from the API models."""
    from pathlib import Path

    from sectigo_operator import crdgen

    raise SystemExit(crdgen.run(Path(root), check=check))


if __name__ == "__main__":  # pragma: no cover
    main()
