"""A moto-server DynamoDB client completed with the ImportTable behaviour AWS has and moto lacks.

moto (the emulator server) runs ImportTable and DescribeImport, but has no ListImports, keeps no
ClientToken (every call is a new import) and leaves S3BucketSource, ClientToken and StartTime out
of DescribeImport. ``ImportsLikeAws`` wraps a real client of the moto server and adds exactly
those parts as the botocore model and AWS's ImportTable documentation describe them (the same
token within 8 hours answers with the same import). Tables, tags, waiters and deletes stay moto's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class ImportsLikeAws:
    """A moto-server DynamoDB client with AWS's ImportTable idempotency, ListImports and full DescribeImport."""

    def __init__(self, ddb: Any) -> None:
        self._ddb = ddb
        self.imports: dict[str, dict[str, Any]] = {}  # by ARN: what AWS keeps about each import
        self._by_token: dict[str, str] = {}
        self.import_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ddb, name)

    def import_table(self, **request: Any) -> dict[str, Any]:
        self.import_calls += 1
        token = request.get("ClientToken")
        if token in self._by_token:  # AWS: the same token within 8 hours answers with the same import
            return {"ImportTableDescription": self._describe(self._by_token[token])}
        description = self._ddb.import_table(**request)["ImportTableDescription"]
        arn = description["ImportArn"]
        self.imports[arn] = {
            "ClientToken": token,
            "S3BucketSource": dict(request["S3BucketSource"]),
            "StartTime": datetime.now(UTC),
        }
        if token:
            self._by_token[token] = arn
        return {"ImportTableDescription": self._describe(arn)}

    def _describe(self, arn: str) -> dict[str, Any]:
        live = self._ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        kept = {key: value for key, value in self.imports[arn].items() if value is not None}
        return {key: value for key, value in {**live, **kept}.items() if value is not None}

    def describe_import(self, *, ImportArn: str) -> dict[str, Any]:
        return {"ImportTableDescription": self._describe(ImportArn)}

    def list_imports(self, *, TableArn: str, PageSize: int = 25, NextToken: str | None = None) -> dict[str, Any]:
        keys = ("ImportArn", "ImportStatus", "TableArn", "S3BucketSource", "StartTime")
        matching = [self._describe(arn) for arn in self.imports]
        matching = [{key: d[key] for key in keys if key in d} for d in matching if d["TableArn"] == TableArn]
        start = int(NextToken or 0)
        page = {"ImportSummaryList": matching[start : start + PageSize]}
        if start + PageSize < len(matching):
            page["NextToken"] = str(start + PageSize)
        return page
