"""docs/operations.md stays the vocabulary of the code: every condition/Event reason and every
metric the operator defines is documented there (a new one without a line in the doc fails)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sectigo_operator import metrics
from sectigo_operator.certificates.requests import EVENT_OF, REASON_OF

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "sectigo_operator"
DOC = (ROOT / "docs" / "operations.md").read_text()


def reason_constants() -> set[str]:
    """``REASON_* = "..."`` constants and ``reason="..."`` / ``Decision(..., "X", ...)``
    literals in the operator's modules."""
    found: set[str] = set()
    for path in [PACKAGE / "policies.py", *PACKAGE.glob("certificates/*.py"),
                 *PACKAGE.glob("handlers/*.py")]:  # fmt: skip
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.startswith("REASON_"):
                        found.add(str(node.value.value))
            if isinstance(node, ast.keyword) and node.arg == "reason":
                if isinstance(node.value, ast.Constant):
                    found.add(str(node.value.value))
        found.update(re.findall(r'"([A-Z][a-zA-Z]+Requested)"', path.read_text()))
    return found


def test_every_reason_is_documented() -> None:
    reasons = reason_constants() | set(EVENT_OF.values()) | set(REASON_OF.values())
    assert len(reasons) > 25
    missing = sorted(r for r in reasons if f"`{r}`" not in DOC)
    assert missing == [], f"add these reasons to docs/operations.md: {missing}"


def test_every_metric_is_documented() -> None:
    names = {family.name.removeprefix(metrics.PREFIX) for family in metrics.REGISTRY.collect()}
    assert {"certificate_ready", "pending_orders", "leader"} <= names
    missing = sorted(n for n in names if f"`{n}" not in DOC)
    assert missing == [], f"add these metrics to docs/operations.md: {missing}"
