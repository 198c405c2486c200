"""Fixtures for the sandbox contract tests: an authenticated httpx client per sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sectigo_operator.sandbox.testing import SandboxHandle


@pytest.fixture
def scm(shared_sandbox_scm: SandboxHandle) -> Iterator[httpx.Client]:
    """An SCM client (login headers set) on the shared, freshly reset sandbox."""
    with httpx.Client(
        base_url=shared_sandbox_scm.base_url, headers=shared_sandbox_scm.auth_headers(), timeout=10
    ) as client:
        yield client


@pytest.fixture
def admin(shared_sandbox_scm: SandboxHandle) -> SandboxHandle:
    return shared_sandbox_scm


@pytest.fixture
def own_scm(sandbox_scm: SandboxHandle) -> Iterator[httpx.Client]:
    """An SCM client on a private sandbox built from ``sandbox_config`` (override per module)."""
    with httpx.Client(
        base_url=sandbox_scm.base_url, headers=sandbox_scm.auth_headers(), timeout=10
    ) as client:
        yield client
