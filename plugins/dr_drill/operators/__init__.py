"""Thin Airflow operators: each calls the core and the aws adapters."""
