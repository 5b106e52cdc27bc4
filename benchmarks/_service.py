"""Runs the real service for a benchmark and signs a user in."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

PASSWORD = "benchmark password 123"
STARTUP_CHECKS = 300
"""/health is asked every 0.2 s, this many times, before the service counts as not started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def running_service(database_url: str) -> AsyncIterator[str]:
    """`skinstack serve --no-worker` (one process) on a free port; yields its base URL."""
    port = free_port()
    data_dir = tempfile.TemporaryDirectory(prefix="skinstack-bench-")
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING",
           "SKINSTACK_DATA_DIR": data_dir.name}
    service = subprocess.Popen(
        [sys.executable, "-m", "skinstack", "serve", "--no-worker", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(STARTUP_CHECKS):
                if service.poll() is not None:
                    raise SystemExit(f"the service exited with {service.returncode} at start")
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit("the service did not answer /health within a minute")
        yield base
    finally:
        service.terminate()
        service.wait(timeout=30)
        data_dir.cleanup()


async def bearer(client: httpx.AsyncClient, email: str, role: str) -> dict[str, str]:
    """Registers `email` with `role` and returns its Authorization header."""
    await client.post("/api/v1/auth/register",
                      json={"email": email, "password": PASSWORD, "role": role})
    token = (await client.post("/api/v1/auth/token", data={
        "username": email, "password": PASSWORD})).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
