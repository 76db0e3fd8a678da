"""A real ``airflow api-server`` on a free loopback port, on this session's metadata DB, for the browser tests.

The simple auth manager with every user an admin stands in for a login; the DAG is
serialised into the DB first, as the DAG processor would, so the UI shows it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("airflow api-server did not become healthy")


@contextmanager
def api_server(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serialise the DAGs, start the api-server, yield its base URL, and stop it after.

    :param env: settings over the default ones (every user an admin); the checkout's own
        ``plugins/`` and root come first on the path, so the server runs this code, not an installed copy.
    """
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        **(env or {}),
    }
    subprocess.run([airflow, "dags", "reserialize"], check=True, env=env, capture_output=True, timeout=300)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_healthy(url, process)
            yield url
        finally:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
