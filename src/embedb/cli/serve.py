"""``embedb serve``: the Milvus gRPC protocol over one database, for pymilvus and the other SDKs."""

from __future__ import annotations

import logging
import signal
import threading

import click

from .app import debug_option


@click.command()
@click.argument("path", metavar="PATH")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback needs --allow-remote.")
@click.option("--port", default=19530, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port).")
@click.option("--allow-remote", is_flag=True,
              help="Allow binding an address other machines can reach.")
@click.option("--token", default=None, envvar="EMBEDB_SERVE_TOKEN", metavar="TOKEN",
              help="Accept calls carrying this token (pymilvus: MilvusClient(uri, token=...)).")
@click.option("--users", "users_file", default=None, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="A file of 'user:password' lines; passwords are hashed in place on first read.")
@click.option("--tls-cert", default=None, type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate: serve over TLS (with --tls-key).")
@click.option("--tls-key", default=None, type=click.Path(exists=True, dir_okay=False),
              help="PEM private key of --tls-cert.")
@click.option("--read-only", is_flag=True,
              help="Serve reads only, without the write lock (another process may write).")
@click.option("--durability", default="fsync", show_default=True,
              type=click.Choice(["fsync", "process"]),
              help="fsync: an acknowledged write survives a power cut; process: it survives "
                   "kill -9 of the server, not a power cut (faster inserts; docs/storage.md).")
@click.option("--workers", default=None, type=click.IntRange(1, 256),
              help="Threads serving calls (default: 4 per CPU, at most 32).")
@click.option("--grace", default=30.0, show_default=True, type=float,
              help="Seconds calls in flight get to finish on SIGTERM/SIGINT.")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Server log level (each failed call logs one WARNING line).")
@debug_option
def serve(path, host, port, allow_remote, token, users_file, tls_cert, tls_key, read_only, durability,
          workers, grace, log_level):
    """Serve the database at PATH over the Milvus gRPC protocol.

    Any Milvus client connects by URI: pymilvus, LangChain and LlamaIndex Milvus stores, the
    Node, Java and Go SDKs. SIGTERM or Ctrl-C lets calls in flight finish, then closes the
    database (checkpoint, lock released).

    \b
    Example:
        embedb serve ./demo.db --port 19530
        python -c "from pymilvus import MilvusClient; \\
                   print(MilvusClient('http://127.0.0.1:19530').list_collections())"
    """
    from ..server import MilvusServer

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("embedb.server").setLevel(log_level.upper())
    server = MilvusServer(path, host, port, token=token, users_file=users_file, tls_cert=tls_cert,
                          tls_key=tls_key, allow_remote=allow_remote, max_workers=workers,
                          read_only=read_only, durability=durability)
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        auth = "token/users" if server.auth.enabled else "off"
        click.echo(f"embedb serve: {path} at {server.uri} (auth {auth}, TLS "
                   f"{'on' if server.tls else 'off'}); Ctrl-C to stop", err=True)
        while not stop.wait(0.5):
            pass
        click.echo("embedb serve: stopping (finishing calls in flight)", err=True)
    finally:
        server.stop(grace)
        for s, handler in previous.items():
            signal.signal(s, handler)
    click.echo("embedb serve: stopped; database closed", err=True)
