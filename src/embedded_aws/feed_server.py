"""A loopback feed server for the embedded AWS, the demo and the tests: real HTTP on 127.0.0.1.

What it answers, in this order:

1. **programmable routes**, ``set_route(path, status=200, body=b"...", headers={...})``: the body is served
   byte for byte (gzip included: set ``Content-Encoding`` or not, as the test wants). ``times=n`` queues a
   one-shot answer used *n* times before the standing route (e.g. one 503, then the list); ``delay`` sleeps
   before answering (timeouts); ``status=0`` drops the connection without answering (a reset);
   **handler routes**, ``set_handler(path, fn)``: ``fn(ApiRequest) -> (status, headers, body)`` answers every
   request to ``path`` that no one-shot route answers first, for API-shaped fakes (token checks, paging by query
   parameter, POST bodies: see ``tests/feeds/test_mandiant.py``);
2. ``/view/iocs``: an **iSIGHT v2-compatible endpoint**. It checks ``X-Auth`` against the keys given at
   construction, the ``X-Auth-Hash`` HMAC over the exact path+query, ``Accept-Version``, ``Accept`` and
   ``Date`` headers, and that ``Date`` is within :attr:`FeedServer.max_clock_skew` seconds: 401 if anything
   is wrong. A malformed window (``startDate``/``endDate`` missing or not whole numbers, end before start,
   longer than 30 days, end in the future, ``format`` other than csv) is a 400. Then 204 when configured
   to have no results (``set_isight_results(None)``), else the iSIGHT CSV (the bundled sample by default);
3. ``/samples/<file>``: the bundled samples of ``embedded_aws/samples/``;
4. anything else: 404.

Every request is logged (:attr:`FeedServer.requests`) with credentials masked, so tests can assert what was
asked without secrets leaking into test output.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
ISIGHT_PATH = "/view/iocs"
ISIGHT_SAMPLE = "isight_iocs.csv"
REDACTED = "REDACTED"
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-auth", "x-auth-hash", "x-api-key"}
)
_SECRET_ENDINGS = ("key", "token", "secret", "password", "passwd", "pwd", "signature", "sig", "auth", "hash")


def _is_sensitive(name: str) -> bool:
    norm = "".join(ch for ch in name.lower() if ch.isalnum())
    return name.lower() in _SENSITIVE_HEADERS or norm.endswith(_SECRET_ENDINGS)


@dataclass
class Route:
    """One programmed answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    remaining: int | None = None  # None: standing route; n: one-shot, used n more times
    #: a body made as it is sent (``set_generated``): chunks, and their total size for Content-Length
    chunks: Callable[[], Iterable[bytes]] | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it, credentials masked (header and query names are kept)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class ApiRequest:
    """What a handler route sees: the request as sent, credentials included (handlers are test code in this
    process; the request log still masks them)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


#: A handler route: the request in, ``(status, headers, body)`` out.
ApiHandler = Callable[[ApiRequest], tuple[int, Mapping[str, str], bytes | str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    app: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (size caps, timeouts, dropped keep-alives) are normal here, not tracebacks."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "threatfeed-feed-server"
    sys_version = ""
    request_body = b""

    def do_GET(self) -> None:
        self.server.app._handle(self)

    def do_HEAD(self) -> None:
        self.server.app._handle(self)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.request_body = self.rfile.read(length) if length else b""
        self.server.app._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log holds what tests need."""


class FeedServer:
    """``with FeedServer(isight_keys={"public": "private"}) as server: server.url("/samples/blocklist.txt")``."""

    def __init__(
        self,
        *,
        isight_keys: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        samples_dir: Path = SAMPLES_DIR,
        clock: Callable[[], float] = time.time,
        max_clock_skew: float = 300.0,
        max_window_days: int = 30,
    ) -> None:
        self.isight_keys: dict[str, str] = dict(isight_keys or {})
        self.samples_dir = samples_dir
        self.clock = clock
        self.max_clock_skew = max_clock_skew
        self.max_window_days = max_window_days
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._queued: dict[str, deque[Route]] = {}
        self._handlers: dict[str, ApiHandler] = {}
        self._log: list[RecordedRequest] = []
        self._isight_body: bytes | None = (samples_dir / ISIGHT_SAMPLE).read_bytes()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FeedServer:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="feed-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the feed server is not running; use it as a context manager or call start()")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str = "") -> str:
        """``http://127.0.0.1:<port><path>``; ``url("")`` is the server root (the iSIGHT API root)."""
        if path and not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    # -- programming -----------------------------------------------------------------------------
    def set_route(
        self,
        path: str,
        status: int = 200,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        *,
        times: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer ``path`` (any method, any query) with ``status``, ``headers`` and ``body``.

        Without ``times`` this is the standing answer (replacing the previous one). With ``times=n`` the
        answer is queued to be used ``n`` times, in order, before the standing answer (or whatever would
        answer without routes). ``status=0`` closes the connection without answering.
        """
        data = body.encode() if isinstance(body, str) else bytes(body)
        route = Route(status=status, body=data, headers=dict(headers or {}), delay=delay, remaining=times)
        with self._lock:
            if times is None:
                self._routes[path] = route
            elif times > 0:
                self._queued.setdefault(path, deque()).append(route)

    def set_generated(
        self, path: str, chunks: Callable[[], Iterable[bytes]], size: int, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer ``path`` with 200 and a body made on the fly, ``chunks()`` written one after the other (a feed
        of hundreds of megabytes that neither the test nor the server holds whole); ``size``: their total, sent
        as Content-Length."""
        sent = {"Content-Length": str(size), **dict(headers or {})}
        with self._lock:
            self._routes[path] = Route(status=200, body=b"", headers=sent, chunks=chunks)

    def clear_route(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)
            self._queued.pop(path, None)

    def clear_routes(self) -> None:
        with self._lock:
            self._routes.clear()
            self._queued.clear()
            self._handlers.clear()

    def set_handler(self, path: str, handler: ApiHandler) -> None:
        """Answer every request to ``path`` (any method, any query) with ``handler(ApiRequest)``, unless a
        one-shot route queued with ``set_route(..., times=n)`` answers first (e.g. one 429, then the handler).
        A handler that raises answers 500 with the exception's text."""
        with self._lock:
            self._handlers[path] = handler

    def set_isight_results(self, body: bytes | str | None) -> None:
        """What ``/view/iocs`` returns to a correctly signed request: CSV bytes, or ``None`` for 204."""
        self._isight_body = body.encode() if isinstance(body, str) else body

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests served so far (oldest first), credentials masked."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # -- serving ---------------------------------------------------------------------------------
    def _take_route(self, path: str) -> Route | None:
        with self._lock:
            queue = self._queued.get(path)
            if queue:
                route = queue[0]
                route.remaining = (route.remaining or 1) - 1
                if route.remaining <= 0:
                    queue.popleft()
                return route
            return self._routes.get(path)

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        route = self._take_route(path)
        with self._lock:
            api_handler = self._handlers.get(path)
        generated = route.chunks if route is not None else None
        if route is not None:
            status, body, headers, delay = route.status, route.body, dict(route.headers), route.delay
        elif api_handler is not None:
            status, body, headers = self._call_handler(api_handler, handler, path, query)
            delay = 0.0
        elif path == ISIGHT_PATH:
            status, body, headers = self._isight(handler, handler.path, query)
            delay = 0.0
        elif path.startswith("/samples/"):
            status, body, headers = self._sample(path[len("/samples/") :])
            delay = 0.0
        else:
            status, body, headers, delay = 404, b"not found\n", {"Content-Type": "text/plain"}, 0.0
        self._record(handler, path, query, status)
        if delay:
            time.sleep(delay)
        if status == 0:
            handler.close_connection = True
            return
        handler.send_response(status)
        names = {k.lower() for k in headers}
        if "content-type" not in names and body:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        if "content-length" not in names:
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD" and (body or generated):
            try:
                for chunk in generated() if generated else (body,):
                    handler.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts, size caps)
                handler.close_connection = True

    @staticmethod
    def _call_handler(
        api_handler: ApiHandler, handler: _Handler, path: str, query: dict[str, list[str]]
    ) -> tuple[int, bytes, dict[str, str]]:
        request = ApiRequest(handler.command, path, query, dict(handler.headers.items()), handler.request_body)
        try:
            status, headers, body = api_handler(request)
        except Exception as error:  # a broken fake should fail the test loudly, not hang the client
            return 500, f"handler error: {type(error).__name__}: {error}\n".encode(), {"Content-Type": "text/plain"}
        data = body.encode() if isinstance(body, str) else bytes(body)
        return status, data, dict(headers)

    def _record(self, handler: _Handler, path: str, query: dict[str, list[str]], status: int) -> None:
        headers = {k: (REDACTED if _is_sensitive(k) else v) for k, v in handler.headers.items()}
        safe_query = {k: ([REDACTED] * len(v) if _is_sensitive(k) else list(v)) for k, v in query.items()}
        with self._lock:
            self._log.append(RecordedRequest(handler.command, path, safe_query, headers, status))

    def _sample(self, name: str) -> tuple[int, bytes, dict[str, str]]:
        candidate = (self.samples_dir / name).resolve()
        root = self.samples_dir.resolve()
        if root not in candidate.parents or not candidate.is_file():
            return 404, b"no such sample\n", {"Content-Type": "text/plain"}
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        return 200, candidate.read_bytes(), {"Content-Type": content_type}

    # -- iSIGHT ----------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, message: str) -> tuple[int, bytes, dict[str, str]]:
        body = json.dumps({"success": False, "message": message}).encode()
        return status, body, {"Content-Type": "application/json"}

    def _isight(self, handler: _Handler, target: str, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        public = handler.headers.get("X-Auth", "")
        given_hash = handler.headers.get("X-Auth-Hash", "")
        accept_version = handler.headers.get("Accept-Version")
        accept = handler.headers.get("Accept")
        date = handler.headers.get("Date")
        private = self.isight_keys.get(public)
        if not public or private is None:
            return self._error(401, "Unknown or missing X-Auth public key")
        if not given_hash or accept_version is None or accept is None or date is None:
            return self._error(401, "X-Auth-Hash, Accept-Version, Accept and Date are required")
        try:
            sent_at = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return self._error(401, "Date is not an RFC 2822 date")
        skew = abs(self.clock() - sent_at)
        if skew > self.max_clock_skew:
            return self._error(401, f"Date is {skew:.0f} s away from the server's clock")
        expected = hmac.new(
            private.encode(), f"{target}{accept_version}{accept}{date}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, given_hash.strip().lower()):
            return self._error(401, "X-Auth-Hash does not match")
        problem = self._window_problem(query)
        if problem:
            return self._error(400, problem)
        if self._isight_body is None:
            return 204, b"", {}
        return 200, self._isight_body, {"Content-Type": "text/csv; charset=utf-8"}

    def _window_problem(self, query: dict[str, list[str]]) -> str | None:
        values = {}
        for name in ("startDate", "endDate"):
            raw = query.get(name, [""])
            if len(raw) != 1 or not raw[0].isdigit():
                return f"{name} must be given once, in epoch seconds"
            values[name] = int(raw[0])
        fmt = query.get("format", ["csv"])
        if fmt != ["csv"]:
            return "only format=csv is served here"
        start, end = values["startDate"], values["endDate"]
        if end < start:
            return "endDate is before startDate"
        if end - start > self.max_window_days * 86400:
            return f"the window is longer than {self.max_window_days} days"
        if end > self.clock() + self.max_clock_skew:
            return "endDate is in the future"
        return None
