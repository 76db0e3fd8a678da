import pytest


@pytest.fixture(autouse=True)
def _metadata_db(airflow_db):
    """Every DAG test needs the migrated metadata database."""
    return airflow_db
