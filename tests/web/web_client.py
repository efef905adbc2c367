"""Talking to the web app as a test: submit a photo, wait for a job."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from reverie.web.jobs import FINISHED


def local_client(app) -> TestClient:
    """A test client that talks to the app as a browser on this machine does (Host: 127.0.0.1)."""
    return TestClient(app, base_url="http://127.0.0.1:8000")


def submit(client: TestClient, data: bytes, name: str = "cat.png", **fields: str) -> dict:
    """Upload ``data`` as a photo with the form ``fields``; the new job, which must be accepted."""
    response = client.post("/api/jobs", files={"image": (name, data, "image/png")}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(client: TestClient, job_id: str, done: Callable[[dict], bool], timeout: float = 120.0) -> dict:
    """Poll a job until ``done(job)`` is true."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never got there: {job}")


def finished(job: dict) -> bool:
    return job["status"] in FINISHED


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)
