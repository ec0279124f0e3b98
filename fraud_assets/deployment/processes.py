"""Process groups the local target starts and must later stop, identified safely across runs.

A server started by one Dagster run is stopped by another (or by the CLI), so it is recorded by
PID *and* kernel start time: a PID reused by an unrelated process is never signalled. Linux-only
(/proc), like the rest of the local target.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Popen objects of servers started by this process, so their exit statuses get reaped.
_started: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class ProcessRef:
    pid: int  # also the process group id: every server is started as a session leader
    start_time: int  # /proc/<pid>/stat field 22, in clock ticks since boot

    def as_dict(self) -> dict:
        return asdict(self)


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rpartition(")")[2].split()[19])


def _stat_fields(pid_dir: Path) -> list[str] | None:
    try:
        return (pid_dir / "stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        fields = _stat_fields(pid_dir)
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(pid_dir.name))
    return members


def spawn(command: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> subprocess.Popen:
    """Start `command` in a new session so it outlives the caller and can be stopped as a group."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _started[process.pid] = process
    return process


def ref(process: subprocess.Popen) -> ProcessRef:
    started = start_time(process.pid)
    if started is None:
        raise RuntimeError(f"process {process.pid} exited right after it started")
    return ProcessRef(process.pid, started)


def is_running(process: ProcessRef | None) -> bool:
    if process is None:
        return False
    _reap(process.pid)
    return start_time(process.pid) == process.start_time and bool(group_members(process.pid))


def stop_group(process: ProcessRef | None, timeout: float = 10.0) -> None:
    """SIGTERM the whole group (gunicorn, its workers, the gRPC and metrics servers), SIGKILL
    whatever is left after `timeout`, and return once no process of the group is alive.
    SIGTERM is gunicorn's graceful stop: requests in hand are finished first."""
    if process is None or start_time(process.pid) not in (process.start_time, None):
        return  # the PID now belongs to someone else: the recorded process is long gone
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(process.pid)
            if not group_members(process.pid):
                return
            time.sleep(0.05)
    raise RuntimeError(f"process group {process.pid} survived SIGKILL: {group_members(process.pid)}")


def _reap(pid: int) -> None:
    process = _started.get(pid)
    if process is not None and process.poll() is not None:
        del _started[pid]
