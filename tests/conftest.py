"""Root pytest configuration: registers the shared fixture modules.

- tests/fixtures/cluster.py: the local control plane (one per session), a fresh namespace per test,
  kubectl, and polling helpers.
- tests/fixtures/sandbox.py: a sandbox SCM server on 127.0.0.1 for tests that need SCM.
- tests/fixtures/operator.py: the operator as a subprocess, and helpers to apply and poll objects.
"""

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.sandbox",
    "tests.fixtures.operator",
]
