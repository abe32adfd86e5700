"""The receiving section's load generator, run as its own process (``python -m bench.loadgen``)
so that its work is not done under the bench process's GIL, next to the emulators' threads.

Lean on purpose: each connection is a thread with a plain socket that sends a prepared
HTTP/1.1 request and reads the answer by its Content-Length (no ``http.client`` header
parsing). It still checks every answer: a request counts only when its status is 200.

Input: a JSON object on stdin (``port``, ``path``, ``connections``, ``bodies`` as text).
It connects, prints ``ready``, waits for a line on stdin, sends everything, then prints one
JSON line: each request's latency (s), the monotonic time of the first send and of the last
answer (CLOCK_MONOTONIC is one clock for every process), its own CPU time while sending,
non-200 statuses and reconnections.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.reconnects = 0

    def open(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, request: bytes) -> int:
        """Sends one request and reads its whole answer; returns the status."""
        sock = self.open()
        sock.sendall(request)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the answer's head")
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        length = int(headers.get(b"content-length", b"0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in the answer's body")
            rest += chunk
        if headers.get(b"connection") == b"close":
            # gunicorn's sync workers answer one request per connection.
            self.close()
            self.reconnects += 1
        return status


def _request(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    port, path, connections = spec["port"], spec["path"], spec["connections"]
    requests = [_request(path, body.encode()) for body in spec["bodies"]]
    chunks = [requests[i::connections] for i in range(connections)]
    latencies: list[float] = []
    failures: list[str] = []
    reconnects = 0
    lock = threading.Lock()
    go = threading.Event()
    first_send: list[float] = []

    def run(chunk: list[bytes]) -> None:
        nonlocal reconnects
        conn = Connection(port)
        conn.open()
        mine: list[float] = []
        bad: list[str] = []
        go.wait()
        for request in chunk:
            started = time.monotonic()
            if not first_send:
                first_send.append(started)
            try:
                status = conn.exchange(request)
            except OSError as exc:
                # Not retried: a repeat of a request whose answer was lost would be stored
                # twice (as a duplicate), which is not what this section measures.
                conn.close()
                bad.append(f"{type(exc).__name__}: {exc}")
                continue
            mine.append(time.monotonic() - started)
            if status != 200:
                bad.append(str(status))
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)
            reconnects += conn.reconnects

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks if chunk]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    go.set()
    for t in threads:
        t.join()
    last = time.monotonic()
    print(json.dumps({"latencies": latencies, "first": min(first_send), "last": last,
                      "cpu_s": time.process_time() - cpu, "failures": failures[:20],
                      "failed": len(failures), "reconnects": reconnects}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
