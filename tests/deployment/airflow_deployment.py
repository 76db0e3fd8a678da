"""A real Airflow deployment of the built dr-drill wheel, on this machine, for the deployment test.

The wheel is installed into a fresh virtual environment with Airflow's constraints for 3.3 and
the Celery and Postgres extras, offline, from the wheelhouse ``make`` downloads. PostgreSQL is the
metadata database, Redis the Celery broker; api-server, scheduler, dag-processor, triggerer and two
Celery workers run as separate processes, each in its own process group so that stopping one
stops what it forked. The plugins folder is empty: the plugin comes from the wheel's entry point.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.emulator import free_port
from tests.deployment.topology import (
    AIRFLOW_COMPONENTS,
    AIRFLOW_EXTRAS,
    AIRFLOW_VERSION,
    EXECUTOR,
    TEST_WORKERS,
    WORKER_CONCURRENCY,
)

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_CONSTRAINTS = ROOT / "deploy" / "airflow" / "constraints-3.3.2-python3.11.txt"
DEFAULT_WHEELHOUSE = ROOT / ".wheelhouse"
WHEELHOUSE_MARKER = ".complete"
DAG_ID = "dynamodb_restore_drill"
TABLE_DAG_ID = "dynamodb_restore_drill_table"  # one table's drill, a run of its own that DAG_ID's run starts
ADMIN = "admin"
# Only these of the caller's variables reach the deployment: the test process's own AIRFLOW_* do not.
_KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def wheelhouse() -> Path:
    return Path(os.environ.get("DR_DRILL_WHEELHOUSE") or DEFAULT_WHEELHOUSE)


def build_wheel(dist: Path) -> Path:
    """Build the project's wheel from this checkout, offline, with the dev environment's hatchling."""
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "--no-index", "-w", str(dist), str(ROOT)], check=True, timeout=300)
    [wheel] = dist.glob("dr_drill-*.whl")
    return wheel


def install_fresh_venv(venv: Path, wheel: Path, log: Path) -> Path:
    """Create ``venv`` and install the wheel with Airflow's constraints, from the wheelhouse only.

    The installer is uv's ``uv pip install``, which Airflow documents beside pip for installing
    with its constraints: pip takes one to three minutes on two busy cores for Airflow's ~180
    distributions, uv seconds. Bytecode is compiled on first import, as uv leaves it by default.
    """
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    requirements = [f"apache-airflow[{AIRFLOW_EXTRAS}]=={AIRFLOW_VERSION}", str(wheel)]
    offline = ["--offline", "--no-index", "--find-links", str(wheelhouse()), "-c", str(AIRFLOW_CONSTRAINTS)]
    uv = [str(Path(sys.executable).with_name("uv")), "pip", "install", "--python", str(venv / "bin" / "python")]
    with open(log, "w") as out:
        subprocess.run([*uv, *offline, *requirements], check=True, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    return venv


@dataclass
class Component:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the group is the component and what it forked
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children that outlived their parent: same group
            os.killpg(group, signal.SIGKILL)
        self.process = None


@dataclass
class Deployment:
    venv: Path
    home: Path
    database_url: str
    broker_url: str
    settings: dict[str, str]
    api_port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    components: list[Component] = field(default_factory=list)
    _token: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    @property
    def plugins_folder(self) -> Path:
        return self.home / "plugins"

    def environment(self, hostname: str | None = None) -> dict[str, str]:
        """What every component sees: the same configuration, as an operator's deployment gives it."""
        env = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database_url.replace("+psycopg2", ""),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "deployment_celery.CELERY_CONFIG",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Each worker names itself, so the task instances' hostnames tell the two apart.
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
                "PYTHONPATH": str(Path(__file__).with_name("site")),
                **self.settings,
            }
        )
        if hostname:
            env["DR_DRILL_DEPLOYMENT_HOSTNAME"] = hostname
        return env

    def prepare(self, dag_file: Path, plan_text: str) -> None:
        """Write the secrets, the DAG folder (the DAG file and a drill plan) and an empty plugins folder."""
        self.dags_folder.mkdir(parents=True)
        self.plugins_folder.mkdir(parents=True)
        shutil.copy(dag_file, self.dags_folder / dag_file.name)
        (self.dags_folder / "drill_plan.yaml").write_text(plan_text)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN: self.password}))
        from cryptography.fernet import Fernet

        self.settings.setdefault("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
        self.settings.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(32))
        self.settings.setdefault("AIRFLOW__API__SECRET_KEY", secrets.token_urlsafe(32))

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` command of the fresh environment to completion."""
        return subprocess.run(
            [str(self.venv / "bin" / "airflow"), *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def start(self) -> None:
        commands = {
            "api-server": [*AIRFLOW_COMPONENTS["api-server"], "--host", "127.0.0.1", "--port", str(self.api_port)],
            "scheduler": list(AIRFLOW_COMPONENTS["scheduler"]),
            "dag-processor": list(AIRFLOW_COMPONENTS["dag-processor"]),
            "triggerer": list(AIRFLOW_COMPONENTS["triggerer"]),
        }
        commands["api-server"] += ["--workers", "1"]
        for name, args in commands.items():
            self._add(name, args)
        for worker in TEST_WORKERS:
            args = [*AIRFLOW_COMPONENTS["worker"], "--celery-hostname", f"{worker}@127.0.0.1"]
            self._add(worker, [*args, "--concurrency", str(WORKER_CONCURRENCY)], hostname=worker)

    def _add(self, name: str, args: list[str], hostname: str | None = None) -> None:
        component = Component(
            name=name,
            command=[str(self.venv / "bin" / "airflow"), *args],
            env=self.environment(hostname),
            log=self.home / f"{name}.log",
        )
        component.start()
        self.components.append(component)

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()

    def not_running(self) -> list[str]:
        return [component.name for component in self.components if not component.running()]

    def log_tails(self, lines: int = 30) -> str:
        tails = []
        for component in self.components:
            text = component.log.read_text(errors="replace").splitlines() if component.log.exists() else []
            tails.append(f"--- {component.name} ({component.log}) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(tails)

    # The REST API, as a platform team's tooling calls it: a JWT from /auth/token, then /api/v2.

    def wait_until_healthy(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := self.not_running():
                raise RuntimeError(f"components exited: {dead}\n{self.log_tails()}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"the api-server did not become healthy\n{self.log_tails()}")

    def token(self) -> str:
        if self._token is None:
            body = {"username": ADMIN, "password": self.password}
            self._token = self._request("POST", "/auth/token", body, authorised=False)["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request(method, f"/api/v2{path}", body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None, authorised: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if authorised:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.api("GET", f"/dags/{dag_id}")
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
            time.sleep(2)
        raise TimeoutError(f"the dag-processor did not register {dag_id}\n{self.log_tails()}")

    def trigger(self, conf: dict[str, Any]) -> str:
        run = self.api("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def runs(self, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns?limit=50")["dag_runs"]

    def wait_for_runs(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Wait until ``count`` runs of DAG_ID exist and every one has finished; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := self.not_running():
                raise RuntimeError(f"components exited: {dead}\n{self.log_tails()}")
            runs = self.runs()
            if len(runs) >= count and all(run["state"] in ("success", "failed") for run in runs):
                return runs
            time.sleep(3)
        raise TimeoutError(f"runs unfinished after {timeout} s: {self.runs()}\n{self.log_tails()}")

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")["task_instances"]

    def task_log(self, run_id: str, task_id: str, map_index: int, try_number: int, dag_id: str = DAG_ID) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}?map_index={map_index}"
        content = self.api("GET", path)["content"]
        return "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in content)
