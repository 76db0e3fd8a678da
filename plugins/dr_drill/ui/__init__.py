"""The drill-history page in the Airflow UI: its FastAPI app (``app.py``), static page and the tasks' extra links."""
