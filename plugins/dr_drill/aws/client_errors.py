"""What a failed boto3 call said."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(err: ClientError) -> str:
    """Return the AWS error code of a failed call ("" when it gave none)."""
    return err.response.get("Error", {}).get("Code", "")


def error_message(err: ClientError, limit: int = 300) -> str:
    """Return AWS's message of a failed call, cut to ``limit``; it names the rule broken, never item values."""
    return err.response.get("Error", {}).get("Message", "")[:limit]
