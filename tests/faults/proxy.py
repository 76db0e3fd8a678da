"""A fault-injecting HTTP proxy on loopback, between boto3 and the emulator.

boto3 reaches the proxy through the Airflow connection's ``endpoint_url``; the proxy names the
service and operation of each request (the SigV4 credential scope, DynamoDB's ``X-Amz-Target``,
S3's method, bucket, key and sub-resource, the ``Action`` of a query-protocol form, the path of
an RPC-v2-CBOR call), applies the rules switched on at run time, and forwards the rest to the
emulator unchanged. Every fault is one AWS really answers with: a throttling or 5xx error in the
service's own error shape, a connection closed without an answer, a partial BatchWriteItem, an
S3 body cut off mid-stream, an S3 error (NoSuchBucket, AccessDenied). A fault the service would
not have seen is never forwarded, so the emulator's state stays what the service's would be.

Decisions are drawn from one seeded generator per rule, in the order matching calls arrive, so a
rule injects the same number of faults into the same number of calls on every run. Each rule
counts what it injected; the tests compare those counts with the figures the evidence records.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from demo.emulator import aws_connection

THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect"}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/([^/?]+)")
_S3_SUBRESOURCES = {
    "object-lock": "ObjectLockConfiguration",
    "versions": "ObjectVersions",
    "versioning": "BucketVersioning",
    "tagging": "Tagging",
    "retention": "ObjectRetention",
    "uploads": "MultipartUploads",
}
_S3_OBJECT_VERBS = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
_S3_BUCKET_VERBS = {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket", "GET": "ListObjects"}


@dataclass(frozen=True)
class Call:
    """What one request asks of AWS, as far as the rules care."""

    service: str  # the SigV4 signing name: dynamodb, s3, sns, monitoring, ...
    operation: str
    bucket: str | None = None
    key: str | None = None
    protocol: str = "query"  # how the client spoke, and so how an error must be shaped: json, cbor, rest-xml, query


def identify(method: str, path: str, headers: dict[str, str], body: bytes) -> Call:
    """Name the service and operation of a request the way AWS routes it."""
    scope = _SCOPE.search(headers.get("authorization", ""))
    target = headers.get("x-amz-target", "")
    service = scope.group(1) if scope else ("dynamodb" if target.startswith("DynamoDB_") else "s3")
    if target:
        return Call(service, target.rsplit(".", 1)[-1], protocol="json")
    cbor = _CBOR_PATH.match(path)
    if cbor:
        return Call(service, cbor.group(1), protocol="cbor")
    if service == "s3":
        return _s3_call(method, path)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(urlsplit(path).query).get("Action")
    return Call(service, action[0] if action else method)


def _s3_call(method: str, path: str) -> Call:
    parts = urlsplit(path)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    for name, operation in _S3_SUBRESOURCES.items():
        if name in query:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Post"}.get(method, method)
            return Call("s3", f"{verb}{operation}", bucket or None, key or None, "rest-xml")
    if key:
        return Call("s3", _S3_OBJECT_VERBS.get(method, f"{method}Object"), bucket, key, "rest-xml")
    if not bucket:
        return Call("s3", "ListBuckets", protocol="rest-xml")
    operation = "ListObjectsV2" if method == "GET" and "list-type" in query else _S3_BUCKET_VERBS.get(method, method)
    return Call("s3", operation, bucket, protocol="rest-xml")


# --- the faults: each one answers the way the service itself does --------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def error_answer(call: Call, status: int, code: str, message: str) -> Answer:
    """``code`` in the error shape of the protocol the client spoke: JSON, RPC v2 CBOR, S3's XML, the query XML."""
    request_id = f"FAULTPROXY{random.getrandbits(40):010X}"
    if call.protocol == "json":
        namespace = "com.amazonaws.dynamodb.v20120810#" if call.service == "dynamodb" else ""
        body = json.dumps({"__type": f"{namespace}{code}", "message": message}).encode()
        return Answer(status, body, "application/x-amz-json-1.0", (("x-amzn-RequestId", request_id),))
    if call.protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<BucketName>{call.bucket or ''}</BucketName><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return Answer(status, body, "application/xml", (("x-amz-request-id", request_id),))
    if call.protocol == "cbor":  # botocore reads the code from the body's __type
        body = _cbor_map({"__type": code, "message": message})
        return Answer(status, body, "application/cbor", (("smithy-protocol", "rpc-v2-cbor"),))
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return Answer(status, body, "text/xml", (("x-amzn-RequestId", request_id),))


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    return bytes([major << 5 | 25]) + struct.pack(">H", length)


def _cbor_map(entries: dict[str, str]) -> bytes:
    return _cbor_head(5, len(entries)) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in entries.items())


class Reset(Exception):
    """Close the client's connection without an answer (and without forwarding the request)."""


@dataclass
class Rule:
    """One kind of fault, applied to the calls it matches, at a seeded rate, from an optional trigger on.

    :param name: what the counts are kept under.
    :param fault: ``throttle``, ``server_error``, ``reset``, ``unprocessed``, ``cut_body`` or ``error``.
    :param services: the signing names it applies to (all when empty).
    :param operations: the operations it applies to (all when empty).
    :param bucket: S3 only: the bucket it applies to.
    :param rate: the fraction of matching calls that get the fault.
    :param times: at most this many faults (``cut_body`` once: 1).
    :param after: ``(operation, n)``: the rule starts at the n-th call of that operation (from 1).
    :param seconds: with ``after``, how long it lasts; None: to the end of the run.
    :param code, status: the error of an ``error`` fault.
    :param keep: ``cut_body``: the share of the body sent before the cut (0: none, so that a
        resumed read can never get further).
    """

    name: str
    fault: str
    services: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    bucket: str | None = None
    rate: float = 1.0
    times: int | None = None
    after: tuple[str, int] | None = None
    seconds: float | None = None
    code: str | None = None
    status: int = 400
    keep: float = 0.5
    seed: int = 11
    injected: int = 0
    by_code: Counter[str] = field(default_factory=Counter)  # what each injected fault answered
    by_operation: Counter[str] = field(default_factory=Counter)  # which operations got the faults
    started_at: float | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:{self.name}")

    def matches(self, call: Call) -> bool:
        return (
            (not self.services or call.service in self.services)
            and (not self.operations or call.operation in self.operations)
            and (self.bucket is None or call.bucket == self.bucket)
        )

    def active(self, now: float) -> bool:
        if self.after is None:
            return True
        if self.started_at is None:
            return False
        return self.seconds is None or now < self.started_at + self.seconds

    def fires(self, call: Call, now: float) -> bool:
        """Whether this call gets the fault; counts it if so. Called under the proxy's lock."""
        if not (self.matches(call) and self.active(now)):
            return False
        if self.times is not None and self.injected >= self.times:
            return False
        if self.rate < 1.0 and self._rng.random() >= self.rate:
            return False
        self.injected += 1
        self.by_operation[call.operation] += 1
        return True

    def pick(self, choices: tuple) -> object:
        return self._rng.choice(choices)

    def withdraw(self, call: Call) -> None:
        """Take back a fault that turned out to change nothing (a batch of one cannot be split)."""
        self.injected -= 1
        self.by_operation[call.operation] -= 1


def throttling(name: str, operations: Iterable[str], rate: float, **kwargs) -> Rule:
    """DynamoDB answering a fraction of ``operations`` with a throttling error (either code, drawn per fault)."""
    dynamodb = frozenset({"dynamodb"})
    return Rule(name, "throttle", services=dynamodb, operations=frozenset(operations), rate=rate, **kwargs)


@dataclass
class Trigger:
    """Something done once, when the n-th call of ``operation`` arrives (before it is answered)."""

    operation: str
    nth: int
    action: Callable[[], None]
    fired: bool = False


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 and a free port; use it as a context manager so it always stops."""

    def __init__(self, upstream: str, seed: int = 11) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.seed = seed
        self.rules: list[Rule] = []
        self.retired: list[Rule] = []  # rules switched off by clear(), kept for their counts
        self.triggers: list[Trigger] = []
        self.seen: Counter[tuple[str, str]] = Counter()  # every call, faulted or not
        self.forwarded: Counter[tuple[str, str]] = Counter()  # what the emulator saw
        self.sent: list[tuple[Call, bytes]] = []  # what left the drill for SNS, CloudWatch and S3 writes
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # --- run time switches ---

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            rule.seed = self.seed
            rule.__post_init__()
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Switch every rule and trigger off; the rules' counts stay in ``retired``."""
        with self.lock:
            self.retired.extend(self.rules)
            self.rules.clear()
            self.triggers.clear()

    def on_call(self, operation: str, nth: int, action: Callable[[], None]) -> None:
        with self.lock:
            self.triggers.append(Trigger(operation, nth, action))

    def injected(self) -> dict[str, int]:
        with self.lock:
            return {rule.name: rule.injected for rule in self.rules}

    # --- life ---

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def airflow_connection(self) -> str:
        """The value of AIRFLOW_CONN_AWS_DEFAULT that sends every drill call through this proxy."""
        return aws_connection(self.endpoint_url)

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        with self.lock:
            for sock in list(self._connections):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes handler threads parked on keep-alive reads
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- one request ---

    def decide(self, call: Call) -> list[Rule]:
        """The rules that fire on this call (and the triggers it sets off), in the order added."""
        now = time.monotonic()
        with self.lock:
            self.seen[(call.service, call.operation)] += 1
            count = self.seen[(call.service, call.operation)]
            actions = []
            for trigger in self.triggers:
                if not trigger.fired and trigger.operation == call.operation and count >= trigger.nth:
                    trigger.fired = True
                    actions.append(trigger.action)
            for rule in self.rules:
                if rule.started_at is None and rule.after and _reached(rule.after, call.operation, count):
                    rule.started_at = now
            fired = [rule for rule in self.rules if rule.fires(call, now)]
        for action in actions:
            action()
        return fired

    def withdraw(self, rule: Rule, call: Call) -> None:
        with self.lock:
            rule.withdraw(call)

    def note_forwarded(self, call: Call, body: bytes) -> None:
        with self.lock:
            self.forwarded[(call.service, call.operation)] += 1
            if call.service in ("sns", "monitoring") or call.operation == "PutObject":
                self.sent.append((call, body))

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _reached(after: tuple[str, int], operation: str, count: int) -> bool:
    return operation == after[0] and count >= after[1]


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    owner: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the tests read the counts

    def setup(self) -> None:
        super().setup()
        with self.owner.lock:
            self.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.owner.lock:
            self.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        call = identify(self.command, self.path, headers, body)
        fired = self.owner.decide(call)
        try:
            answer = self._fault_answer(call, fired)
            if answer is not None:
                self._send(answer.status, [("Content-Type", answer.content_type), *answer.headers], answer.body)
                return
            unprocessed = next((rule for rule in fired if rule.fault == "unprocessed"), None)
            forwarded_body, held_back = _half_of_batch(body) if unprocessed else (body, None)
            upstream = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-length"}]
            status, response_headers, response = self.owner.forward(self.command, self.path, upstream, forwarded_body)
            self.owner.note_forwarded(call, forwarded_body)
            if unprocessed and (not held_back or status != 200):
                # Nothing was held back (a batch of one), or the service refused the whole request,
                # which the client then sends again in full: no partial success was injected.
                self.owner.withdraw(unprocessed, call)
                held_back = None
            if held_back is not None:
                response = _with_unprocessed(response, held_back)
                response_headers = [(k, v) for k, v in response_headers if k.lower() != "x-amz-crc32"]
                response_headers.append(("x-amz-crc32", str(zlib.crc32(response) & 0xFFFFFFFF)))
            cuts = [rule for rule in fired if rule.fault == "cut_body"]
            if cuts and status == 200 and len(response) > 1:
                sent = response[: int(len(response) * cuts[0].keep)]
                self._send(status, response_headers, sent, declared=len(response))
                raise Reset
            self._send(status, response_headers, response)
        except Reset:
            self._drop()

    def _fault_answer(self, call: Call, fired: list[Rule]) -> Answer | None:
        for rule in fired:
            if rule.fault == "reset":
                raise Reset
            if rule.fault == "throttle":
                with self.owner.lock:
                    code = str(rule.pick(THROTTLE_CODES)) if rule.code is None else rule.code
                    rule.by_code[code] += 1
                return error_answer(call, 400, code, "Rate of requests exceeds the allowed throughput.")
            if rule.fault == "server_error":
                with self.owner.lock:
                    status = int(rule.pick((500, 503)))
                    code = {500: "InternalServerError", 503: "ServiceUnavailable"}[status]
                    if call.service == "s3":
                        code = {500: "InternalError", 503: "SlowDown"}[status]
                    rule.by_code[code] += 1
                return error_answer(call, status, code, "We encountered an internal error. Please try again.")
            if rule.fault == "error":
                return error_answer(call, rule.status, rule.code or "InternalFailure", f"{rule.code} (fault proxy)")
        return None

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, declared: int | None = None) -> None:
        self.send_response_only(status)
        length_given = False
        for name, value in headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or lower in ("date", "server"):
                continue
            if lower == "content-length":
                if self.command != "HEAD":
                    continue  # recomputed below; a HEAD answer keeps the object's own length
                length_given = True
            self.send_header(name, value)
        if not length_given:
            self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection at once, with a TCP reset, so the client sees it closed without an answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _half_of_batch(body: bytes) -> tuple[bytes, dict[str, list]]:
    """Split a BatchWriteItem: the first half of each table's requests goes on, the rest is held back."""
    request = json.loads(body)
    forwarded, held_back = {}, {}
    for table, requests in request["RequestItems"].items():
        keep = len(requests) - len(requests) // 2
        forwarded[table], held_back[table] = requests[:keep], requests[keep:]
    request["RequestItems"] = {table: requests for table, requests in forwarded.items() if requests}
    return json.dumps(request).encode(), {table: requests for table, requests in held_back.items() if requests}


def _with_unprocessed(response: bytes, held_back: dict[str, list]) -> bytes:
    answer = json.loads(response or b"{}")
    unprocessed = answer.get("UnprocessedItems") or {}
    for table, requests in held_back.items():
        unprocessed[table] = unprocessed.get(table, []) + requests
    answer["UnprocessedItems"] = unprocessed
    return json.dumps(answer).encode()
