"""The layers: the pure core, with the hand-offs, constants and errors, imports neither Airflow nor boto3."""

from __future__ import annotations

import subprocess
import sys


def test_the_core_imports_without_airflow_or_boto3():
    code = (
        "import sys, pkgutil, importlib, dr_drill.core as core\n"
        "import dr_drill.constants, dr_drill.contracts, dr_drill.errors\n"
        "found = [m.name for m in pkgutil.walk_packages(core.__path__, 'dr_drill.core.')]\n"
        "assert len(found) > 20, found\n"
        "for name in found: importlib.import_module(name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('airflow', 'boto3', 'botocore')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": "plugins"})
