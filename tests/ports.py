"""A free loopback port, for the servers the tests and the benchmarks start. Imports nothing heavy, so that the
benchmarks can use it without the tests' browser or server libraries."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
