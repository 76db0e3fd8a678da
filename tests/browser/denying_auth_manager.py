"""A test-only auth manager: the simple one, except that the user ``outsider`` may not see the drill DAG.

The api-server of the history page's browser test runs with it, to show that the page asks the
auth manager and that a user refused the DAG sees nothing of the drills.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"
HIDDEN_DAG = "dynamodb_restore_drill"


class DenyingAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        if user.get_name() == OUTSIDER and (details is None or details.id in (None, HIDDEN_DAG)):
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
