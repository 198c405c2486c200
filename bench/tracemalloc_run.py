"""Run the operator under tracemalloc and write the top allocations on SIGUSR2 (bench tool).

``python bench/tracemalloc_run.py <dump-dir> run --namespace NS ...``: the arguments after the
directory are the CLI's. Each SIGUSR2 writes ``<dump-dir>/snapshot-<pid>-<n>.txt``: the 40 biggest
allocation sites by line and by 8-frame traceback, with their sizes and counts. Tracing costs
CPU and memory of its own (use it to find where memory goes, not to measure how much).
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from sectigo_operator import cli


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    counter = itertools.count(1)
    tracemalloc.start(8)

    def dump(signum: int, frame: FrameType | None) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        now, peak = tracemalloc.get_traced_memory()
        lines = [f"traced: {now / 2**20:.1f} MiB now, {peak / 2**20:.1f} MiB at its peak\n"]
        for key in ("lineno", "traceback"):
            stats = snapshot.statistics(key)
            total = sum(s.size for s in stats)
            lines.append(f"\n== by {key}: {total / 2**20:.1f} MiB in {len(stats)} sites ==\n")
            for stat in stats[: 40 if key == "lineno" else 15]:
                lines.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:9d} blocks\n")
                frames = stat.traceback.format() if key == "traceback" else [str(stat.traceback)]
                lines.extend(f"    {line}\n" for line in frames)
        (out / f"snapshot-{os.getpid()}-{next(counter)}.txt").write_text("".join(lines))

    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["sectigo-operator", *sys.argv[2:]]
    cli.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
