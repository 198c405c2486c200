"""The package's layering holds: pure layers never import kopf or kubernetes (docs/design.md).

Reads each module's imports with ``ast`` (no import side effects), including lazy imports inside
functions, and checks them against the allowed directions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "sectigo_operator"
FRAMEWORKS = ("kopf", "kubernetes")
PURE = [
    "scm",
    "pki",
    "outputs.py",
    "models",
    "policies.py",
    "sandbox",
    "crdgen.py",
    "settings.py",
    "certificates",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files_of(entry: str) -> list[Path]:
    target = PACKAGE / entry
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("entry", PURE)
def test_pure_layers_do_not_import_frameworks(entry: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] in FRAMEWORKS
        )
        for path in files_of(entry)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_handlers_import_kopf() -> None:
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(m.split(".")[0] == "kopf" for m in imported_modules(path))
    )
    assert all(p.startswith("handlers/") or p in ("cli.py", "runner.py") for p in importers), (
        importers
    )


# Import directions inside certificates/ (docs/design.md): a module may import only modules of a
# lower level, never one of its own level or above (the scheduler stands alone).
CERTIFICATES_LEVELS = {
    "context": 0,
    "outcomes": 0,
    "scheduler": 0,
    "metadata": 0,
    "gather": 1,
    "readiness": 2,
    "status": 2,
    "kinds": 2,
    "trigger": 4,
    "keys": 4,
    "requests": 5,
    "issuing": 5,
    "drift": 1,
    "settled": 1,
    "revocation": 5,
    "deletion": 5,
    "importing": 6,
    "decision": 3,
    "facts": 6,
    "unreadable": 1,
    "reconcile": 7,
    "__init__": 8,
}


def relative_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_certificates_import_directions() -> None:
    package = PACKAGE / "certificates"
    modules = {p.stem for p in package.glob("*.py")}
    assert modules == set(CERTIFICATES_LEVELS), "add new modules to CERTIFICATES_LEVELS"
    wrong = {
        name: sorted(
            imported
            for imported in relative_imports(package / f"{name}.py")
            if CERTIFICATES_LEVELS[imported] >= level
        )
        for name, level in CERTIFICATES_LEVELS.items()
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []


def test_no_package_named_operator() -> None:
    assert not (PACKAGE.parent / "__init__.py").exists()
