"""Serve the app on HOST:PORT (default http://127.0.0.1:5800) with waitress, a production WSGI server in pure
Python (Linux, macOS and Windows): SERVER_THREADS requests at once, the background work started once."""
from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING, Iterable

from app import create_app, start_background

if TYPE_CHECKING:
    from flask import Flask

# Largest request line plus headers waitress reads; longer requests get its plain-text 431 before the app
# runs. URLs between the app's own limit (8 KB, see app/routes/security.py) and this get the app's JSON 414.
MAX_REQUEST_HEADER_BYTES = 256 * 1024


def listen_addresses(addresses: Iterable[str], port: int) -> str:
    """waitress' `listen` for the addresses HOST resolved to ("127.0.0.1:5800 [::1]:5800")."""
    return " ".join(f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addresses)


def build_server(app: Flask, sockets: list[socket.socket] | None = None):
    """A waitress server for the app, bound (to HOST's addresses, or to the given sockets) but not running:
    call .run(); .close() stops it."""
    from waitress import create_server

    settings = app.config["SETTINGS"]
    options = {"threads": settings.SERVER_THREADS, "ident": "media-library", "asyncore_use_poll": True,
               "max_request_header_size": MAX_REQUEST_HEADER_BYTES}
    if sockets:
        return create_server(app, sockets=sockets, **options)
    # The addresses resolved when the settings were checked (loopback or not), not the name again.
    return create_server(app, listen=listen_addresses(settings.BIND_ADDRESSES, settings.PORT), **options)


def public_url(host: str, port: int) -> str:
    if host in {"127.0.0.1", "localhost", "0.0.0.0", "::", ""}:
        host = "localhost"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def main() -> None:
    app = create_app()
    settings = app.config["SETTINGS"]
    if not settings.BIND_ADDRESSES:
        print(f"Configuration error: HOST={settings.HOST!r} does not resolve to an address", file=sys.stderr)
        raise SystemExit(2)
    server = build_server(app)  # bind first: a port in use stops here, before any background thread starts
    start_background(app)
    print(f"Serving on {public_url(settings.HOST, settings.PORT)} ({settings.SERVER_THREADS} threads)", flush=True)
    server.run()


if __name__ == "__main__":
    main()
