"""Pure domain logic: imports neither airflow nor boto3."""
