"""A local HTTP server on 127.0.0.1 for download tests (http.server in a thread; no outside network).

Routes map a URL path to bytes and a behaviour:

* ``"ok"``: the whole file, honouring ``Range: bytes=N-`` with a 206;
* ``"no-range"``: the whole file with a 200 whatever the request asks;
* ``"truncate"``: announces the full length but sends only the first half, then closes;
* ``"stall"``: sends the headers and the first half, then stops sending (until the test ends);
* anything not routed: 404.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    """Routes, request log and base URL of a running server."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.release = threading.Event()

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, name: str, payload: bytes, mode: str = "ok") -> str:
        """Route ``/<name>`` to ``payload`` with behaviour ``mode``; its URL."""
        self.routes[f"/{name}"] = (payload, mode)
        return f"{self.base}/{name}"


def hashed_name(stem: str, payload: bytes, suffix: str = ".pth") -> str:
    """``<stem>-<first 8 hex digits of sha256>.pth``, as mmdet names its checkpoints."""
    return f"{stem}-{hashlib.sha256(payload).hexdigest()[:8]}{suffix}"


def _handler(state: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            route = state.routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            payload, mode = route
            start = 0
            if range_header and mode != "no-range":
                start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
            else:
                self.send_response(200)
            body = payload[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if mode in ("truncate", "stall"):
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if mode == "stall":
                    state.release.wait(30)
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """A running server on an ephemeral port of 127.0.0.1; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    state = LocalServer(server)
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
