"""The backup formats and restore requests of each backup source, as pure functions.

One module per source that has something pure to own: its format (``s3_json``,
``s3_export``), its server-side restore request (``s3_export``'s ImportTable,
``native_backup``, ``pitr``) and how its point or backup is chosen (``pitr``).
"""
