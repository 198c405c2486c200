"""crds/ (and the field reference in docs/api.md) must match what the models generate.

Fix a failure with ``python -m sectigo_operator.crdgen`` (or ``sectigo-operator crds``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sectigo_operator import crdgen
from sectigo_operator.cli import main
from sectigo_operator.models import CertificateSpec

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_fresh() -> None:
    stale = crdgen.stale_files(ROOT)
    assert stale == [], (
        f"stale generated files {[str(p.relative_to(ROOT)) for p in stale]}: "
        "run `python -m sectigo_operator.crdgen`"
    )


def test_crd_files_are_exactly_the_generated_ones() -> None:
    expected = [*crdgen.render_crds(), crdgen.KUSTOMIZATION]
    assert sorted(p.name for p in (ROOT / "crds").glob("*.yaml")) == sorted(expected)


def test_a_model_change_makes_the_files_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crdgen.write(tmp_path)
    assert crdgen.stale_files(tmp_path) == []
    field = CertificateSpec.model_fields["comments"]
    monkeypatch.setattr(field, "description", "changed")
    CertificateSpec.model_rebuild(force=True)
    try:
        stale = crdgen.stale_files(tmp_path)
    finally:
        monkeypatch.undo()
        CertificateSpec.model_rebuild(force=True)
    assert [p.name for p in stale] == ["sectigo-operator.io_sectigocertificates.yaml"]


def test_cli_check_and_write(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "api.md", tmp_path / "docs" / "api.md")
    runner = CliRunner()
    assert runner.invoke(main, ["crds", "--root", str(tmp_path), "--check"]).exit_code == 1
    result = runner.invoke(main, ["crds", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["crds", "--root", str(tmp_path), "--check"]).exit_code == 0
    assert (tmp_path / "docs" / "api.md").read_text() == (ROOT / "docs" / "api.md").read_text()
