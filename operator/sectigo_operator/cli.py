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
@click.option("--standalone/--no-standalone", default=True, show_default=True,
              help="Run without peering (no HA coordination).")
@click.option("--liveness", "liveness_endpoint", default=None,
              help="Liveness endpoint, e.g. http://127.0.0.1:8080/healthz.")
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


if __name__ == "__main__":  # pragma: no cover
    main()
