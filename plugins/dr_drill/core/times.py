"""Times as drills read and write them: ISO 8601, aware, UTC where no zone is given."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` allowed; naive means UTC) into an aware UTC datetime.

    :raises ValueError: when ``text`` is not such a time.
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return as_utc(parsed).astimezone(UTC)


def parse_backup_timestamp(text: str) -> datetime | None:
    """Parse a backup's own time (ISO 8601; naive means UTC, a given zone is kept), or None."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return as_utc(parsed)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` with UTC as its zone when it has none (boto3 and moto differ there)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Return the seconds from ``start`` to ``end`` (ISO 8601), None when either is missing."""
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
