"""sectigo-operator: manage Sectigo Certificate Manager (SCM) certificates from Kubernetes.

The package is layered; the allowed import directions are enforced by tests/unit/test_layering.py:

    handlers -> (certificates, configs, policies, k8s, scm, pki, models, settings)
    certificates -> (policies, configs, k8s, scm, pki, models, settings)
    scm, pki, models, policies, sandbox -> never import kopf or kubernetes
"""

__version__ = "0.1.0"
