"""A small Chrome DevTools Protocol client: headless Chromium driven over its own websocket.

Only what the browser tests need: open a page, run JavaScript in it, wait for a condition,
and see the requests the page sends (with their bodies). It uses the ``websockets`` package
Airflow already installs, and Debian's ``chromium``; nothing is downloaded.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from demo.emulator import stop_process

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class Page:
    """One browser tab, spoken to over CDP."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._next_id = 0
        self.requests: list[dict[str, Any]] = []  # Network.requestWillBeSent's ``request``, in order

    def _handle_event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"])

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        call_id = self._next_id
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._handle_event(message)

    def evaluate(self, expression: str) -> Any:
        """Run ``expression`` in the page (awaiting a promise) and return its JSON value."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Return the first truthy value of ``expression``, polling the page."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.pump(0.2)
        raise TimeoutError(f"the page never satisfied: {expression}")

    def pump(self, seconds: float) -> None:
        """Read events for ``seconds`` (so the request log stays current)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._handle_event(json.loads(self._socket.recv(timeout=left)))
            except TimeoutError:
                return

    def click(self, element: str) -> None:
        """Click the middle of ``element`` (a JavaScript expression) with the mouse, as a person would."""
        box = self.evaluate(
            f"(() => {{ const e = {element}; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type_text(self, element: str, text: str) -> None:
        """Click into ``element`` and type ``text`` as keyboard input."""
        self.click(element)
        self.send("Input.insertText", text=text)

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))


def _devtools_port(profile: Path, timeout: float = 30) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and (lines := marker.read_text().split()):
            return int(lines[0])
        time.sleep(0.1)
    raise TimeoutError("Chromium did not open its DevTools port")


@contextmanager
def browser_page(chromium: str, profile: Path, *, width: int = 1280, height: int = 2000) -> Iterator[Page]:
    """Start headless Chromium on a loopback DevTools port and yield its first tab; stop it after."""
    process = subprocess.Popen(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _devtools_port(profile)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            target = next(entry for entry in json.load(answer) if entry["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            page = Page(socket)
            page.send("Network.enable")
            page.send("Page.enable")
            yield page
    finally:
        stop_process(process)
