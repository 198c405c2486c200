"""A probe of the cyclic garbage collector, for any Python process started with this directory on
``PYTHONPATH``: at exit it writes to stderr how many collections of each generation ran and the
CPU (``time.thread_time``) they took, as ``GCPROBE counts [g0, g1, g2] cpu-seconds [...]``.

Used with the burst benchmark (its operator's output goes to ``operator-<key>.log``)::

    export BENCH_KEEP=/tmp/bk PYTHONPATH=bench/gc_probe
    python bench/bench_issuance.py --count 800 --key ecdsa
    grep GCPROBE /tmp/bk/operator-ecdsa.log
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
from typing import Any

_counts = [0, 0, 0]
_seconds = [0.0, 0.0, 0.0]
_started = [0.0]


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.thread_time()
        return
    generation = info["generation"]
    _counts[generation] += 1
    _seconds[generation] += time.thread_time() - _started[0]


def _report() -> None:
    rounded = [round(s, 3) for s in _seconds]
    sys.stderr.write(f"GCPROBE counts {_counts} cpu-seconds {rounded}\n")
    sys.stderr.flush()


gc.callbacks.append(_callback)
atexit.register(_report)
