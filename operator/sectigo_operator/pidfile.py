"""Pid files of the background processes ``make up`` / ``make demo`` start, read safely.

A pid file can outlive its process (SIGKILL, a reboot) and the kernel then hands the pid to an
unrelated program. Before anyone signals a pid read from a file, :func:`our_pid` checks that the
process still runs *our* program (its ``/proc/<pid>/cmdline`` holds every expected word); a pid
file that names a dead or foreign process is stale and is removed.

Used by :mod:`sectigo_operator.controlplane_service` (``down``, ``is_up``) and
:mod:`sectigo_operator.demo`.
Standard library only; Linux ``/proc`` (elsewhere no process can be proven ours, so none is).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def read_pid(path: Path) -> int | None:
    """The positive pid in ``path``, or ``None`` if the file is missing or unreadable."""
    try:
        pid = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def command_line(pid: int) -> list[str] | None:
    """The arguments of process ``pid`` from ``/proc``; ``None`` if it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    if not raw:  # a zombie or a kernel thread
        return None
    return raw.rstrip(b"\0").decode("utf-8", "replace").split("\0")


def runs(pid: int, expected: Sequence[str]) -> bool:
    """Whether ``pid`` is alive and each word of ``expected`` is one of its arguments.

    A word also matches an argument that ends with ``/word`` (a program started by path).
    """
    args = command_line(pid)
    if args is None:
        return False
    return all(any(arg == word or arg.endswith("/" + word) for arg in args) for word in expected)


def our_pid(path: Path, expected: Sequence[str]) -> int | None:
    """The pid in ``path`` if it still runs our program; otherwise remove the stale file."""
    pid = read_pid(path)
    if pid is None:  # missing, or being written right now: leave it alone
        return None
    if runs(pid, expected):
        return pid
    path.unlink(missing_ok=True)
    return None
