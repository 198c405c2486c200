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


@main.command("run")
@click.option("-n", "--namespace", "namespaces", multiple=True, help="Watch only these namespaces.")
@click.option(
    "--standalone/--no-standalone",
    default=True,
    show_default=True,
    help="Run without peering (no HA coordination).",
)
@click.option(
    "--liveness",
    "liveness_endpoint",
    default=None,
    help="Liveness endpoint, e.g. http://127.0.0.1:8080/healthz.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run_operator(
    namespaces: tuple[str, ...], standalone: bool, liveness_endpoint: str | None, verbose: bool
) -> None:
    """Run the operator against the current kubeconfig (or in-cluster config)."""
    import kopf.cli

    args = ["run", "-m", "sectigo_operator.handlers"]
    args += ["--standalone"] if standalone else []
    if namespaces:
        for ns in namespaces:
            args += ["--namespace", ns]
    else:
        args += ["--all-namespaces"]
    if liveness_endpoint:
        args += ["--liveness", liveness_endpoint]
    if verbose:
        args += ["--verbose"]
    kopf.cli.main(args=args, prog_name="sectigo-operator run")


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
