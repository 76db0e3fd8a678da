# The image of every Airflow service in docker-compose.yaml: Airflow's official image with the
# dr-drill wheel installed into it, the way Airflow documents extending its image. The DAG folder
# is mounted by the compose file; the plugin comes from the wheel's `airflow.plugins` entry point.
#
#   docker build -t dr-drill-airflow .        (docker compose build does this)
#
# Not built by CI: the development and CI machines have a docker client but no engine.
# tests/deployment/test_compose.py checks that this file and the compose file agree.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# Stage 1: the wheel, from this checkout, as `make wheel` builds it.
FROM python:3.11-slim AS wheel
WORKDIR /src
RUN pip install --no-cache-dir "hatchling==1.33.0"
COPY pyproject.toml README.md ./
COPY plugins/dr_drill plugins/dr_drill
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation -w /dist .

# Stage 2: Airflow's image plus the wheel. Naming the image's own Airflow version on the same
# command line keeps pip from moving it; dr-drill's requirements are ranges that it satisfies.
FROM ${AIRFLOW_IMAGE}
COPY --from=wheel /dist/ /tmp/dr-drill-dist/
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /tmp/dr-drill-dist/dr_drill-*.whl
