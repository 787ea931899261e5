"""Serving the desk with uvicorn on 127.0.0.1, in the foreground (the CLI) or in a thread (tests, bench)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from pipeline.core.errors import ConfigError
from pipeline.desk.app import Desk

HOST = "127.0.0.1"


@dataclass
class Bound:
    """A desk with its listening socket: ``url`` is the start-up URL, token included."""

    desk: Desk
    sock: socket.socket
    server: uvicorn.Server

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return self.base + self.desk.url("/")


def bind(desk: Desk, port: int = 8765) -> Bound:
    """Listen on 127.0.0.1:``port`` (0: a free port); ConfigError when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {HOST}:{port}: {exc.strerror}",
                          hint="pass another --port (0 picks a free one)") from exc
    sock.listen(128)
    config = uvicorn.Config(desk.app, log_level="warning", lifespan="off", access_log=False)
    return Bound(desk, sock, uvicorn.Server(config))


def serve(bound: Bound) -> None:
    """Serve until Ctrl-C."""
    try:
        bound.server.run(sockets=[bound.sock])
    finally:
        bound.sock.close()


@contextmanager
def running(desk: Desk, port: int = 0) -> Iterator[Bound]:
    """Serve ``desk`` in a background thread for the duration of the block."""
    bound = bind(desk, port)
    thread = threading.Thread(target=serve, args=(bound,), name="desk-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not bound.server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield bound
    finally:
        bound.server.should_exit = True
        thread.join(10)
