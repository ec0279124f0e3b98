"""The stable front of the local model server: it owns the public address (127.0.0.1:9000 by
default) and forwards each TCP connection to the model server currently in charge, so a redeploy
moves traffic without the address ever closing.

Why a front rather than two gunicorns sharing the port with SO_REUSEPORT: when the old server
closes its socket, Linux resets the connections still waiting in that socket's accept queue
(unless the net.ipv4.tcp_migrate_req sysctl is on, which it is not by default). Measured while
choosing (two gunicorns, a 2 ms app, 4 clients): one swap reset 3 of ~4,600 connections; through
the front, none. The front costs about 15% of throughput and ~1 ms at p99 on an idle machine
(benchmarks/bench_serving.py prints direct and front figures side by side).

It works at the TCP level, one backend connection per client connection. Seldon's gunicorn
workers (sync) close every connection after one response, so once traffic is switched the old
backend only finishes the requests it already holds, and `open` in the status tells when it is
drained. Control: one JSON object per line over an owner-only Unix socket,
    {"cmd": "status"}                               -> {"backend": "127.0.0.1:P", "open": {...}, "pid": N}
    {"cmd": "switch", "backend": "127.0.0.1:P"}     -> {"backend": ..., "previous": ...}

Run: python -m fraud_assets.deployment.front --listen 127.0.0.1:9000 --backend 127.0.0.1:P --control PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
from collections import Counter
from pathlib import Path

logger = logging.getLogger("fraud_assets.front")
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


def parse_loopback_address(text: str) -> tuple[str, int]:
    """'127.0.0.1:9000' -> ('127.0.0.1', 9000); anything off the loopback is refused."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address {text!r}: expected HOST:PORT")
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"address {text!r}: the local target only uses loopback addresses")
    return host, int(port)


def check_control_path(path: Path) -> Path:
    if len(os.fsencode(path)) > UNIX_PATH_MAX:
        raise ValueError(
            f"control socket path {path} is longer than {UNIX_PATH_MAX} bytes; use a shorter FRAUD_ASSETS_HOME"
        )
    return path


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


def _close(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.close()


class Front:
    def __init__(self, backend: tuple[str, int]):
        self.backend = backend
        self.open: Counter[str] = Counter()

    async def forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        backend = self.backend  # fixed for the connection's life: a switch only affects new ones
        key = f"{backend[0]}:{backend[1]}"
        self.open[key] += 1
        try:
            try:
                backend_reader, backend_writer = await asyncio.open_connection(*backend)
            except OSError as e:
                logger.error("backend %s refused a connection: %s", key, e)
                _close(client_writer)
                return
            upstream = asyncio.ensure_future(_pipe(client_reader, backend_writer))
            await _pipe(backend_reader, client_writer)  # ends when the backend closes: the exchange is over
            upstream.cancel()
            _close(backend_writer, client_writer)
        finally:
            self.open[key] -= 1
            if not self.open[key]:
                del self.open[key]

    def status(self) -> dict:
        return {"backend": f"{self.backend[0]}:{self.backend[1]}", "open": dict(self.open), "pid": os.getpid()}

    def answer(self, request: dict) -> dict:
        command = request.get("cmd")
        if command == "status":
            return self.status()
        if command == "switch":
            previous = self.status()["backend"]
            self.backend = parse_loopback_address(str(request.get("backend", "")))
            logger.info("traffic switched from %s to %s", previous, self.status()["backend"])
            return {"backend": self.status()["backend"], "previous": previous}
        raise ValueError(f"unknown command {command!r}; expected status or switch")

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = self.answer(json.loads(line))
                except (ValueError, TypeError, AttributeError) as e:
                    reply = {"error": str(e)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            _close(writer)


async def serve(listen: tuple[str, int], backend: tuple[str, int], control_path: Path) -> None:
    front = Front(backend)
    loop = asyncio.get_running_loop()
    stopping = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopping.done() or stopping.set_result(None))
    # Listen first: a control socket that answers then means the public address is served.
    public = await asyncio.start_server(front.forward, *listen, backlog=1024, reuse_address=True)
    with contextlib.suppress(FileNotFoundError):
        control_path.unlink()
    previous_umask = os.umask(0o177)  # the socket file is created owner-only
    try:
        control_server = await asyncio.start_unix_server(front.control, path=str(control_path))
    finally:
        os.umask(previous_umask)
    logger.info("front on %s:%s -> %s:%s (pid %s)", *listen, *backend, os.getpid())
    async with public, control_server:
        await stopping
    with contextlib.suppress(FileNotFoundError):
        control_path.unlink()


def request(control_path: Path, message: dict, timeout: float = 5.0) -> dict:
    """Send one control command to a running front and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(control_path))
        sock.sendall(json.dumps(message).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"front at {control_path} closed the control connection")
            reply += chunk
    answer = json.loads(reply)
    if "error" in answer:
        raise ValueError(f"front at {control_path}: {answer['error']}")
    return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=parse_loopback_address, help="HOST:PORT to serve on")
    parser.add_argument("--backend", required=True, type=parse_loopback_address, help="HOST:PORT of the model server")
    parser.add_argument("--control", required=True, type=lambda p: check_control_path(Path(p)), help="Unix socket path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        import uvloop  # optional, and faster than the default loop at accepting and forwarding
    except ImportError:
        asyncio.run(serve(args.listen, args.backend, args.control))
    else:
        uvloop.run(serve(args.listen, args.backend, args.control))


if __name__ == "__main__":
    main()
