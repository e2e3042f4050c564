"""``embedb serve`` as a process: SIGTERM finishes, checkpoints and releases the lock; a second
server on the same path gets the engine's lock error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("grpc")
pymilvus = pytest.importorskip("pymilvus")

import embedb  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(path, port, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "embedb.cli", "serve", str(path), "--port",
                             str(port), *extra], stderr=subprocess.PIPE, text=True, env=env)


def wait_ready(proc, port, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("embedb serve did not start")


def test_sigterm_closes_the_database_and_a_second_serve_is_refused(tmp_path):
    path = tmp_path / "served.db"
    port = free_port()
    proc = start_serve(path, port, "--log-level", "INFO")
    try:
        wait_ready(proc, port)
        client = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{port}")
        client.create_collection("c", dimension=2)
        client.insert("c", [{"id": i, "vector": [float(i), 1.0]} for i in range(10)])
        # the lock is held: another server on the same path stops with the engine's error
        second = subprocess.run([sys.executable, "-m", "embedb.cli", "serve", str(path), "--port",
                                 str(free_port())], capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and f"pid {proc.pid}" in second.stderr
        assert "open for writing" in second.stderr
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "database closed" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    with embedb.MilvusClient(str(path)) as reopened:  # the lock went with the server
        assert reopened.query("c", filter="id >= 0", output_fields=["id"], limit=100) == \
            [{"id": i} for i in range(10)]


def test_read_only_server_beside_a_writer(tmp_path):
    path = str(tmp_path / "shared.db")
    with embedb.MilvusClient(path) as writer:  # this process holds the write lock
        writer.create_collection("c", dimension=2)
        writer.insert("c", [{"id": 1, "vector": [1.0, 0.0]}])
        writer.flush("c")
        port = free_port()
        proc = start_serve(path, port, "--read-only")
        try:
            wait_ready(proc, port)
            client = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{port}")
            assert client.query("c", filter="id >= 0", output_fields=["id"]) == [{"id": 1}]
            with pytest.raises(pymilvus.exceptions.MilvusException) as info:
                client.insert("c", [{"id": 2, "vector": [0.0, 1.0]}])
            assert info.value.code == 2002
            client.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def test_stop_lets_calls_in_flight_finish_and_every_acknowledged_write_survives(tmp_path):
    import threading

    path = str(tmp_path / "inflight.db")
    uri = embedb.serve_in_thread(path)
    client = pymilvus.MilvusClient(uri=uri)
    client.create_collection("c", dimension=8)
    acknowledged = []
    started = threading.Event()

    def write():
        try:
            for b in range(1000):
                client.insert("c", [{"id": b * 100 + i, "vector": [float(i)] * 8} for i in range(100)])
                acknowledged.append(b)
                started.set()
        except Exception:  # the server stopped: later calls are refused, none is half-done
            pass

    writer = threading.Thread(target=write)
    writer.start()
    assert started.wait(60)
    uri.stop()  # grace: the insert in flight completes, then the database closes
    writer.join(60)
    client.close()
    with embedb.MilvusClient(path) as reopened:
        count = reopened.query("c", output_fields=["count(*)"])[0]["count(*)"]
    assert count >= 100 * len(acknowledged) and count % 100 == 0
