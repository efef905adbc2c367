"""A real ``reverie serve`` process for tests: started on a free port, its output kept, stopped."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

SERVE = [sys.executable, "-m", "reverie.cli", "serve"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``reverie serve`` on a free port with ``options``; ready once it answers HTTP at all (a
    server that needs a token answers 401 until given it)."""

    def __init__(self, data_dir: Path, *options: str, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [*SERVE, "--host", host, "--port", str(self.port), "--data-dir", str(data_dir)]
        self.process = subprocess.Popen(
            [*command, "--device", "cpu", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self.read_output, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.reader.join(5)
                raise AssertionError(f"server exited: {self.output}")
            if any(line.startswith("Reverie is at") for line in self.lines):
                return
            time.sleep(0.1)
        raise AssertionError(f"server did not start in 60 s: {self.output}")

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def get(self, path: str, timeout: float = 30, **options) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout, **options)

    def post(self, path: str, timeout: float = 60, **options) -> httpx.Response:
        return httpx.post(self.url + path, timeout=timeout, **options)

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit status and everything the server printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.reader.join(10)
        return self.process.returncode, self.output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run_serve(data_dir: Path, *options: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``reverie serve`` expected to refuse to start: its exit status and output."""
    command = [*SERVE, "--data-dir", str(data_dir), "--device", "cpu", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
