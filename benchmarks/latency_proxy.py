"""A loopback HTTP proxy that adds a fixed delay to every request: the round trip to a real AWS endpoint.

Listens on 127.0.0.1 only and forwards to one upstream on 127.0.0.1 (the moto server), one
keep-alive upstream connection per proxy thread, so the delay is the only added cost.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class _DelayingHandler(BaseHTTPRequestHandler):
    """Forward one request to the upstream after ``delay`` seconds; set by the server."""

    protocol_version = "HTTP/1.1"
    server: _DelayingServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send_upstream(self, body: bytes | None, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
        local = self.server.local
        for attempt in range(2):
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=120)
            try:
                local.conn.request(self.command, self.path, body=body, headers=headers)
                response = local.conn.getresponse()
                return response, response.read()
            except (http.client.HTTPException, OSError):
                local.conn.close()
                local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        time.sleep(self.server.delay)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        response, payload = self._send_upstream(body, headers)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


class _DelayingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs when 16+ clients connect at once (1 s retransmits)

    def __init__(self, upstream_port: int, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _DelayingHandler)
        self.upstream_port = upstream_port
        self.delay = delay
        self.local = threading.local()  # one keep-alive upstream connection per proxy thread


class LatencyProxy:
    """``with LatencyProxy(upstream, delay_seconds=0.02) as proxy: proxy.endpoint_url``."""

    def __init__(self, upstream_url: str, delay_seconds: float) -> None:
        upstream = urlsplit(upstream_url)
        if upstream.hostname != "127.0.0.1" or upstream.port is None:
            raise ValueError("the proxy forwards to 127.0.0.1:port only")
        self._server = _DelayingServer(upstream.port, delay_seconds)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
