"""What the HTTP stand-ins for hosted memory servers share: a JSON server on
127.0.0.1 (a free port) run in a daemon thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["JSONHandler", "StandInServer"]


class StandInServer:
    """Serves ``handler`` on 127.0.0.1 at a free port, in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # stop() waits for the serving loop to look at its flag: every 20 ms, not the default 0.5 s
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet handler that reads and writes JSON; subclasses implement :meth:`serve`."""

    # TCP_NODELAY: the status line and headers go out in one write and the body in another; with
    # Nagle's algorithm the body waits for the client's delayed ACK of the headers (about 40 ms
    # on Linux) on every response of a kept-alive connection
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def serve(self, method: str) -> None:
        raise NotImplementedError

    def read_json(self) -> Any:
        """The request body parsed as JSON (``{}`` when empty); raises ``json.JSONDecodeError``."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.serve("GET")

    def do_POST(self) -> None:
        self.serve("POST")

    def do_PATCH(self) -> None:
        self.serve("PATCH")

    def do_DELETE(self) -> None:
        self.serve("DELETE")
