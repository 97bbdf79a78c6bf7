"""A fault-injecting reverse proxy on loopback, in front of the real HAPI server.

Rules match a method and a path/query substring and fire a fixed number of times:
``status`` answers 429/503 (with ``Retry-After``) without forwarding; ``drop``
closes the connection before forwarding; ``drop_after`` forwards (the server
commits) and then closes the connection without answering — a lost response.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Rule:
    method: str
    contains: str
    action: str  # status | drop | drop_after
    times: int
    status: int = 503
    retry_after: str | None = None
    body: bytes = b""  # and the request body holds this (e.g. b'"type":"transaction"')
    fired: int = 0


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.URL(upstream)
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        self.http = httpx.Client(timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                return

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rule = proxy._match(self.command, self.path, body)
                if rule is not None and rule.action == "status":
                    self.send_response(rule.status)
                    if rule.retry_after:
                        self.send_header("Retry-After", rule.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if rule is not None and rule.action == "drop":
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["Host"] = self.headers.get("Host", "")  # HAPI builds links from it: they point here
                url = proxy.upstream.copy_with(raw_path=self.path.encode())
                response = proxy.http.request(self.command, url, content=body, headers=headers)
                if rule is not None and rule.action == "drop_after":
                    self.close_connection = True
                    return
                self.send_response(response.status_code)
                for k, v in response.headers.items():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.upstream.path}"

    def _match(self, method: str, path: str, body: bytes) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.fired < rule.times and rule.method == method and rule.contains in path and rule.body in body:
                    rule.fired += 1
                    return rule
        return None

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()
