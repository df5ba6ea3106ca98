"""TCP proxies for tests: `DroppingProxy` cuts connections at chosen moments (client retries).

The proxy forwards bytes both ways; when a request matching a `Rule` passes through,
it cuts the connection once the server has answered: with none of the answer forwarded
(``cut_after=0``: the server committed, the client saw nothing) or after part of it.
`close_sockets` closes both ends of a proxied connection (tests/server's tampering proxy uses it too).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


def close_sockets(*socks: socket.socket) -> None:
    """Shut down and close sockets, ignoring ones the peer already dropped (the test proxies)."""
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@dataclass
class Rule:
    marker: bytes  # e.g. b"POST /api/v1/artifacts "
    times: int = 1  # how many matching requests to sabotage
    cut_after: int = 0  # response bytes forwarded before cutting (0: none)
    hits: int = 0


@dataclass
class DroppingProxy:
    upstream: int
    rules: list[Rule] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state: dict[str, Rule | None] = {"rule": None}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, Rule | None]) -> None:
        try:
            while data := client.recv(65536):
                for rule in self.rules:
                    if rule.marker in data and rule.hits < rule.times:
                        rule.hits += 1
                        state["rule"] = rule
                if data[:8].split(b" ")[0] in (b"GET", b"POST", b"PUT", b"HEAD", b"PATCH", b"DELETE"):
                    self.requests.append(data.split(b"\r\n", 1)[0])
                server.sendall(data)
        except OSError:
            pass
        close_sockets(client, server)

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, Rule | None]) -> None:
        forwarded = 0
        try:
            while data := server.recv(65536):
                rule = state["rule"]
                if rule is not None:
                    room = rule.cut_after - forwarded
                    if room > 0:
                        client.sendall(data[:room])
                        forwarded += min(room, len(data))
                    if forwarded >= rule.cut_after:
                        break  # drop the rest: the client sees the connection die
                    continue
                client.sendall(data)
        except OSError:
            pass
        close_sockets(client, server)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
