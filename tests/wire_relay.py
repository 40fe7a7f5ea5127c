"""A loopback TCP relay that records every byte passing through it, both directions.

Why: to prove on the wire what a secret looks like between two real processes (is the bearer
token readable?) without root, tcpdump or tshark. Point a client at `relay.address` instead of
the server; `relay.captured()` is everything either side sent.
"""
from __future__ import annotations

import socket
import threading
from typing import Optional


class WireRelay:
    """Accepts on 127.0.0.1:<free port>, dials `target` for each connection, pipes both ways."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.connections = 0
        self._bytes = bytearray()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept_loop, name="wire-relay", daemon=True).start()

    @classmethod
    def to(cls, address: str) -> "WireRelay":
        """`host:port` (e.g. a head's grpc_address or the netloc of its http_url)."""
        host, _, port = address.rpartition(":")
        return cls(host.strip("[]"), int(port))

    def captured(self) -> bytes:
        with self._lock:
            return bytes(self._bytes)

    def close(self) -> None:
        self._closed.set()
        for s in [self._listener, *self._socks]:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self) -> "WireRelay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.connections += 1
            self._socks += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        data: Optional[bytes] = b"x"
        try:
            while data:
                data = src.recv(65536)
                if data:
                    with self._lock:
                        self._bytes += data
                    dst.sendall(data)
        except OSError:
            pass
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass
