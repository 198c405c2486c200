"""The operator's own outcomes of a certificate step, turned into wake-ups by the handlers.

::

    Outcome              a step ended without reaching Ready; status already says why
    ├── RetryLater       look again after ``delay`` seconds (the scheduler files it)
    └── Stalled          only a change of spec (or of what it references) helps

    SpecError            (policies) the spec cannot be turned into an order, naming the field
    └── SecretMissing    a referenced Secret or key is not there yet: a wait, never a stall
"""

from __future__ import annotations

from ..policies import SpecError, backoff
from ..settings import OperatorSettings


class Outcome(Exception):
    """A step ended short of Ready (the status was written before this is raised)."""


class RetryLater(Outcome):
    """Look at the certificate again after ``delay`` seconds."""

    def __init__(self, delay: float, message: str) -> None:
        self.delay = delay
        super().__init__(message)


class Stalled(Outcome):
    """Only a change of spec (or of what it references) can help; status already says why."""


class SecretMissing(SpecError):
    """A Secret the spec references does not exist, or lacks the key: wait for it, do not stall.

    GitOps tools apply a certificate and its Secrets in any order, and creating or fixing the
    Secret is no change of spec, so a stall would never be retried.
    """


def wait_delay(settings: OperatorSettings, retry: int) -> float:
    """Backoff while waiting for something else (config, profile, a referenced Secret)."""
    return backoff(retry + 1, base=1.0, cap=settings.wait_config_max_delay)
