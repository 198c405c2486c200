"""Kopf handlers, loaded by ``sectigo-operator run`` (``kopf run -m sectigo_operator.handlers``).

One module per CRD plus ``lifecycle`` (start-up settings, shared state, clean-up). Handlers stay
thin: parse the body, call the domain module, translate its outcome into Kopf's exceptions.
"""

from . import certificate, config, lifecycle, profile, secret

__all__ = ["certificate", "config", "lifecycle", "profile", "secret"]
