"""The one Jinja2 environment of the reports: the pages (``html.py``) and their charts (``charts.py``)."""

from __future__ import annotations

import jinja2

# One environment for the charts and the pages (html.py): with autoescape on, a table name or a
# failure reason from a record is always shown as text, never read as markup.
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("dr_drill.core.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
