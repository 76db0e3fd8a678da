"""A real moto server process on 127.0.0.1 and a free port: boto3 goes through its whole HTTP stack."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

REGION = "us-east-1"


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a server this code started: SIGTERM, and SIGKILL if it is still there 10 s later."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def emulator_client(endpoint_url: str, service: str, *, region_name: str = REGION, config: Any = None) -> Any:
    """A boto3 client of ``service`` reaching the emulator at ``endpoint_url`` with its test keys."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def aws_connection(endpoint_url: str, *, region_name: str = REGION, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value: an AWS connection reaching ``endpoint_url`` with the emulator's test keys.

    STS is sent there too: the Amazon provider never sends a ``role_arn``'s AssumeRole to ``endpoint_url``.
    """
    extra = {
        "endpoint_url": endpoint_url,
        "service_config": {"sts": {"endpoint_url": endpoint_url}},
        "region_name": region_name,
        **extra,
    }
    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """Start and stop one moto server; use it as a context manager so it is always stopped."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempts: int = 5) -> Emulator:
        for _ in range(attempts):
            self.port = free_port()
            self._process = self._spawn()
            if self._wait_ready():
                return self
            self.stop()  # the port was taken between the probe and the bind: try another
        raise RuntimeError("the moto server did not start")

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"}
        if not self.log_path:
            return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        # The server writes to its own copy of the descriptor: ours is closed at once, not leaked.
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=log, env=env)

    def _wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=2):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def reset(self) -> None:
        """Forget every resource, so a test starts from an empty AWS account."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def client(self, service: str, config=None):
        return emulator_client(self.endpoint_url, service, config=config)

    def airflow_connection(self) -> str:
        """Return the value of AIRFLOW_CONN_AWS_DEFAULT that points Airflow at this emulator."""
        return aws_connection(self.endpoint_url)
