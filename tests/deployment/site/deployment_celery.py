"""``[celery] celery_config_options`` of the deployment test: Airflow's defaults, and no prefetch.

With Redis as the broker a worker reserves another task while one runs, even with a prefetch
multiplier of 1, so one worker could take both shares of a split restore. Celery 5.6's
``worker_disable_prefetch`` makes a worker fetch only when a process is free: each share goes to
an idle worker, which is what a deployment that wants a split spread over its workers sets too.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "worker_disable_prefetch": True}
