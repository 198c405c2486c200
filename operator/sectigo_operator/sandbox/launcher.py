"""Starting the sandbox from the command line, in the foreground or detached in the background.

``sectigo-operator sandbox-scm`` parses its options into :class:`LaunchOptions` and calls
:func:`launch`. ``--background`` re-runs this module as a detached child (new session, output to
the log file), waits until it listens, writes the pid file and returns: that is what ``make demo``
uses. Stop it with ``kill $(cat <pid-file>)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import FaultRule, SandboxConfig, dump_config, load_config
from .server import DEFAULT_PORT, serve


@dataclass
class LaunchOptions:
    """Command-line options; ``None`` means "keep the configuration file's value"."""

    port: int = DEFAULT_PORT
    state_dir: str = ".sandbox-scm"
    config_file: str | None = None
    issue_delay: float | None = None
    issue_after_collects: int | None = None
    approval: str | None = None
    pending_code: int | None = None
    strict_reason_code: bool | None = None
    faults: list[str] = field(default_factory=list)
    background: bool = False
    pid_file: str | None = None
    log_file: str | None = None
    ready_file: str | None = None
    print_config: bool = False
    verbose: bool = False


def build_config(opts: LaunchOptions) -> SandboxConfig:
    """The configuration file (or defaults) with the command-line overrides applied."""
    config = load_config(opts.config_file) if opts.config_file else SandboxConfig()
    updates: dict[str, object] = {}
    if opts.issue_delay is not None:
        updates["issue_delay_seconds"] = opts.issue_delay
    if opts.issue_after_collects is not None:
        updates["issue_after_collects"] = opts.issue_after_collects
    if opts.approval is not None:
        updates["approval_mode"] = opts.approval
    if opts.pending_code is not None:
        updates["pending_code"] = opts.pending_code
    if opts.strict_reason_code is not None:
        updates["strict_reason_code"] = opts.strict_reason_code
    if opts.faults:
        updates["faults"] = [
            *config.faults,
            *(FaultRule.model_validate_json(f) for f in opts.faults),
        ]
    data = config.model_dump(by_alias=False)
    data["password"] = config.password
    data.update(updates)
    return SandboxConfig.model_validate(data)


def launch(opts: LaunchOptions) -> int:
    """Run per the options; returns the process exit code."""
    config = build_config(opts)  # validate before detaching
    if opts.print_config:
        print(dump_config(config))
        return 0
    state_dir = Path(opts.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if opts.background:
        return _detach(opts, state_dir)
    _setup_logging(opts)
    pid_file = Path(opts.pid_file) if opts.pid_file else None
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    ready = Path(opts.ready_file) if opts.ready_file else None
    try:
        asyncio.run(serve(config, state_dir, opts.port, ready))
    finally:
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
    return 0


def _setup_logging(opts: LaunchOptions) -> None:
    level = logging.DEBUG if opts.verbose else logging.INFO
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if opts.log_file:
        logging.basicConfig(filename=opts.log_file, level=level, format=fmt)
    else:
        logging.basicConfig(level=level, format=fmt)


def _detach(opts: LaunchOptions, state_dir: Path) -> int:
    log_file = Path(opts.log_file or state_dir / "sandbox-scm.log")
    pid_file = Path(opts.pid_file or state_dir / "sandbox-scm.pid")
    ready = state_dir / "sandbox-scm.ready"
    ready.unlink(missing_ok=True)
    child = LaunchOptions(**{**asdict(opts), "background": False, "ready_file": str(ready)})
    child.log_file = None  # the child's stdout/stderr already go to the log file
    child.pid_file = str(pid_file)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__, json.dumps(asdict(child))],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text(encoding="utf-8").strip():
            url = ready.read_text(encoding="utf-8").strip()
            print(
                f"sandbox SCM running at {url} (pid {proc.pid}; pid file {pid_file}; "
                f"log {log_file})"
            )
            return 0
        if proc.poll() is not None:
            print(f"sandbox SCM exited with {proc.returncode}; see {log_file}", file=sys.stderr)
            return 1
        time.sleep(0.05)
    proc.terminate()
    print(f"sandbox SCM did not start within 30 s; see {log_file}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(launch(LaunchOptions(**json.loads(sys.argv[1]))))
