"""The deployment's shape, shared by the deployment test and the check of docker-compose.yaml.

Each Airflow component is named by the ``airflow`` subcommand that runs it, as in Airflow's own
docker-compose.yaml; both the test and the compose file run exactly these, beside PostgreSQL (the
metadata database and Celery's result backend), Redis (Celery's broker) and the AWS emulator.
"""

from __future__ import annotations

AIRFLOW_COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer",),
    "worker": ("celery", "worker"),
}
EXECUTOR = "CeleryExecutor"
# The test runs two workers, so that a split restore can be seen to run on both; the compose file
# runs one (scale it with `docker compose up --scale airflow-worker=2`).
TEST_WORKERS = ("worker-1", "worker-2")
# One task at a time per worker: the two shares of a split restore, queued together, cannot both be
# taken by one worker, and two cores are not oversubscribed.
WORKER_CONCURRENCY = 1
# The airflow extras of a Postgres + Celery deployment: the database drivers and the Celery provider.
AIRFLOW_EXTRAS = "celery,postgres"
AIRFLOW_VERSION = "3.3.2"
