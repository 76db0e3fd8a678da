"""``[core] hostname_callable`` of the deployment test: each Celery worker reports the name it was given.

Two workers on one machine share its hostname, so the task instances' hostnames could not show
that a split restore ran on both; each worker's environment names it instead.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("DR_DRILL_DEPLOYMENT_HOSTNAME") or socket.getfqdn()
