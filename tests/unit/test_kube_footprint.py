"""The operator's Kubernetes client stays lean: the generated ``CoreV1Api`` (one 63,000-line
module, about 20 MiB of memory) is never imported by the running operator."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sectigo_operator.k8s import _secret_path


def test_the_operator_never_imports_the_generated_core_api() -> None:
    probe = textwrap.dedent(
        """
        import sys
        import kubernetes
        import sectigo_operator.runner
        from sectigo_operator.handlers import certificate, config, lifecycle, profile, secret
        from sectigo_operator.k8s import Kube

        kubernetes.config.load_kube_config = lambda *a, **k: None
        Kube(2)
        print(sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "kubernetes.client.api.coordination_v1_api" in out  # the probe did build a Kube
    assert "custom_objects_api" not in out
    assert "core_v1_api" not in out


def test_secret_paths() -> None:
    assert _secret_path(None) == "/api/v1/secrets"
    assert _secret_path("team-a") == "/api/v1/namespaces/team-a/secrets"
    assert _secret_path("team-a", "web-tls") == "/api/v1/namespaces/team-a/secrets/web-tls"
