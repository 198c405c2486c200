"""deploy/monitoring's alert rules: valid for Prometheus (``promtool check rules``) and firing when
they should, with the annotations they render (``promtool test rules`` with
deploy/monitoring/tests/alerts.test.yaml). promtool is built from the Go module proxy by
``tools/promtool/build.sh`` (``make test`` and ``.ci/run`` do it); under CI=true a missing
promtool fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"


@pytest.fixture(scope="module")
def promtool() -> str:
    built = sorted((ROOT / ".envtest" / "bin").glob("promtool-*/promtool"))
    found = str(built[-1]) if built else shutil.which("promtool")
    if not found:
        message = "promtool not built (run `bash tools/promtool/build.sh`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(MONITORING / "tests" / "alerts.test.yaml", tmp_path)
    return tmp_path


def run(promtool: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_are_valid(promtool: str, rules_dir: Path) -> None:
    result = run(promtool, rules_dir, "check", "rules", "rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout + result.stderr


def test_alerts_fire_when_they_should(promtool: str, rules_dir: Path) -> None:
    result = run(promtool, rules_dir, "test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test(rules_dir: Path) -> None:
    groups = yaml.safe_load((rules_dir / "rules.yaml").read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"]}
    tests = yaml.safe_load((rules_dir / "alerts.test.yaml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case["alert_rule_test"]}
    assert alerts == tested
