"""Errors of the kubectl plugin and the operator command without a cluster: one line, never a
traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sectigo_operator.plugin import main

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
users: [{name: u, user: {token: t}}]
"""


def run(tmp_path: Path, kubeconfig: str) -> tuple[int, str]:
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig)
    result = CliRunner().invoke(main, ["--kubeconfig", str(path), "status", "web"])
    return result.exit_code, result.output


def test_an_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    code, output = run(tmp_path, UNREACHABLE)
    assert code == 1 and "Traceback" not in output
    assert output.strip() == "Error: cannot reach the API server: MaxRetryError"


def test_a_kubeconfig_that_is_not_yaml_is_one_error(tmp_path: Path) -> None:
    code, output = run(tmp_path, "a: [b\n")
    assert code == 1 and "Traceback" not in output
    assert output.startswith("Error: cannot load the kubeconfig:")


def test_bad_operator_options_are_usage_errors_naming_the_option() -> None:
    from sectigo_operator.cli import main as operator_main

    for args, option in (
        (["run", "--http-address", "foo"], "--http-address"),
        (["run", "--leader-elect", "--lease-duration", "0"], "--lease-duration"),
    ):
        result = CliRunner().invoke(operator_main, args)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '{option}'" in result.output
        assert "Traceback" not in result.output
