"""Child processes for the benchmarks: servers and workers in their own process groups, and the
CPU time those groups use (comparable on a busy machine, where requests/s is not)."""

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

# `geo serve` refuses the public default secret (it signs click ids and dashboard cookies); a
# benchmark's servers get a throwaway one unless the caller set theirs. Scripts build their
# servers' environment from os.environ after importing this module.
os.environ.setdefault("GEO_SECRET_KEY", secrets.token_urlsafe(32))


class Proc:
    """A child in its own process group; with a probe URL, waits until it answers (its port must
    be free first: another server there would be measured instead). Stopped with SIGTERM, then
    SIGKILL, on exit."""

    proc: subprocess.Popen

    def __init__(
        self,
        cmd: list,
        *,
        env: dict[str, str],
        cwd: Path,
        probe: str | None = None,
        timeout_s: float = 30,
    ) -> None:
        self.cmd, self.env, self.cwd, self.probe, self.timeout_s = cmd, env, cwd, probe, timeout_s

    def __enter__(self) -> "Proc":
        if self.probe:
            port = urllib.parse.urlsplit(self.probe).port
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    raise RuntimeError(f"port {port} is already taken")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if self.probe and not _answers(self.probe, self.timeout_s):
            self.__exit__()
            raise RuntimeError(f"{self.cmd} did not answer at {self.probe}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.proc.pid)


def _answers(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:
            time.sleep(0.3)
    return False


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every process in a process group (uvicorn and its workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields and int(fields[2]) == pgid:  # fields[0] is the state: pgrp is the third after ")"
            total += _cpu(fields)
    return total


def pid_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (PostgreSQL backends: pg_backend_pid())."""
    return sum(_cpu(fields) for pid in pids if (fields := _stat_fields(Path(f"/proc/{pid}/stat"))))


def _stat_fields(stat: Path) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (empty if the process is gone)."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
