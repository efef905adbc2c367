"""``reverie serve --ray``: web jobs on the actors of a real two-node Ray cluster, with live progress
and previews, cancel, a job whose worker is killed, and the looks' thumbnails and the picker's tiles
dreamed on the actors."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from web_client import finished, submit, wait_for

from reverie.io.images import load_image
from reverie.io.video import probe_video
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask
from reverie.web import WebConfig, create_app
from videos import audio_codec

QUICK = {"steps": "2", "octaves": "2", "max_side": "96", "seed": "4"}
#: Long enough on one CPU thread to be seen running, then cancelled.
SLOW = {"steps": "200", "octaves": "3", "max_side": "256"}
#: A few seconds on one CPU thread: time to kill its worker, then to finish.
MEDIUM = {"steps": "30", "octaves": "2", "max_side": "160"}
#: Minutes on one CPU thread, even on a fast machine: it must not end before it is killed twice.
LOSING = {"steps": "200", "octaves": "4", "max_side": "1024"}


@pytest.fixture(scope="module")
def cluster_client(ray_cluster: str, tmp_path_factory):
    config = WebConfig(tmp_path_factory.mktemp("data"), device="cpu", ray_address=ray_cluster)
    with TestClient(create_app(config), base_url="http://127.0.0.1:8000") as client:
        yield client


def test_the_web_app_runs_on_one_actor_per_node(cluster_client: TestClient) -> None:
    workers = cluster_client.app.state.workers
    assert workers.count == 2 and len(workers.cluster.actors) == 2


def test_a_job_on_the_cluster_dreams_what_this_process_dreams(
    cluster_client: TestClient, chelsea_path: Path, tmp_path: Path
) -> None:
    job = submit(cluster_client, chelsea_path.read_bytes(), **QUICK)
    done = wait_for(cluster_client, job["id"], finished)
    assert done["status"] == "done" and done["progress"] == 1.0 and done["preview_url"]
    result = tmp_path / "web.png"
    result.write_bytes(cluster_client.get(done["result_url"]).content)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as an actor on a one-CPU node runs
    try:
        settings = DreamSettings(steps=2, octaves=2, max_side=96, seed=4)
        here = DreamTask(chelsea_path, tmp_path / "here.png", settings=settings, device="cpu")
        from reverie.dreamer import Dreamer

        here.run(Dreamer(device="cpu"))
    finally:
        torch.set_num_threads(threads)
    assert np.abs(load_image(result).rgb - load_image(tmp_path / "here.png").rgb).max() <= 1 / 255 + 1e-6


def test_progress_and_previews_come_back_and_cancel_stops_the_job_on_the_cluster(
    cluster_client: TestClient, chelsea_path: Path
) -> None:
    job = submit(cluster_client, chelsea_path.read_bytes(), **SLOW)
    running = wait_for(cluster_client, job["id"], lambda j: j["status"] == "running" and j["preview_url"])
    assert 0 < running["progress"] < 0.67 and running["stage"].startswith("octave ")
    preview = Image.open(io.BytesIO(cluster_client.get(running["preview_url"]).content))
    assert preview.width < 256  # an early octave, smaller than the working size
    assert cluster_client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    stopped = wait_for(cluster_client, job["id"], finished, timeout=30)
    assert stopped["status"] == "cancelled" and stopped["result_url"] is None
    again = submit(cluster_client, chelsea_path.read_bytes(), **QUICK)  # the actor goes on serving
    assert wait_for(cluster_client, again["id"], finished)["status"] == "done"


def kill_all_workers(client: TestClient) -> None:
    """kill -9 every live actor of the web app's cluster: the job's, and the idle one. An actor that
    is restarting is waited for (a busy machine can take a while), so the job's is never missed."""
    cluster = client.app.state.workers.cluster
    for actor in list(cluster.actors):
        asked = actor.__ray_call__.options(max_task_retries=-1)  # waits while Ray restarts it
        with contextlib.suppress(cluster.ray.exceptions.ActorDiedError):  # one gone for good
            pid = cluster.ray.get(asked.remote(lambda _worker: os.getpid()), timeout=120)
            os.kill(pid, signal.SIGKILL)


def test_a_job_whose_worker_dies_runs_again_and_finishes(
    cluster_client: TestClient, chelsea_path: Path
) -> None:
    cluster = cluster_client.app.state.workers.cluster
    retried = cluster.retried
    job = submit(cluster_client, chelsea_path.read_bytes(), **MEDIUM)
    wait_for(cluster_client, job["id"], lambda j: j["status"] == "running" and j["progress"] > 0)
    kill_all_workers(cluster_client)
    done = wait_for(cluster_client, job["id"], finished)
    assert done["status"] == "done" and cluster.retried == retried + 1
    for _ in range(3):  # the idle thread's dead actor costs its next job a retry, never the job
        fresh = submit(cluster_client, chelsea_path.read_bytes(), **QUICK)
        assert wait_for(cluster_client, fresh["id"], finished)["status"] == "done"


def test_a_job_that_loses_its_worker_twice_fails_with_a_message(
    cluster_client: TestClient, chelsea_path: Path
) -> None:
    cluster = cluster_client.app.state.workers.cluster
    job = submit(cluster_client, chelsea_path.read_bytes(), **LOSING)
    wait_for(cluster_client, job["id"], lambda j: j["status"] == "running" and j["progress"] > 0)
    retried = cluster.retried
    kill_all_workers(cluster_client)
    deadline = time.monotonic() + 60
    while cluster.retried == retried:  # sent again, to a restarted actor
        assert time.monotonic() < deadline and client_status(cluster_client, job["id"]) == "running"
        time.sleep(0.05)
    wait_for(cluster_client, job["id"], lambda j: j["progress"] > 0 and "lost" not in j["stage"])
    kill_all_workers(cluster_client)
    failed = wait_for(cluster_client, job["id"], finished, timeout=60)
    assert failed["status"] == "failed" and "the worker running this job was lost" in failed["error"]
    retried = cluster_client.post(f"/api/jobs/{job['id']}/retry")
    # Queued again; the restarted actors are idle, so a worker may already have taken it.
    assert retried.status_code == 200 and retried.json()["status"] in ("queued", "running")
    assert cluster_client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200


def client_status(client: TestClient, job_id: str) -> str:
    return client.get(f"/api/jobs/{job_id}").json()["status"]


def test_the_looks_are_dreamed_on_the_clusters_actors(cluster_client: TestClient) -> None:
    response = cluster_client.get("/api/looks/efficientnet_lite0/textures.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).width == 192
    assert cluster_client.app.state.workers.dreamers._loaded == {}  # no model loaded in the server


def test_the_pickers_tiles_are_dreamed_on_the_clusters_actors(cluster_client: TestClient) -> None:
    url = "/api/tiles/efficientnet_lite0/layers/blocks.0?first=0&count=2"
    page = cluster_client.post(url).json()
    deadline = time.monotonic() + 120
    while any(tile["state"] != "ready" for tile in page["tiles"]):
        assert time.monotonic() < deadline and "failed" not in str(page), page
        time.sleep(0.2)
        page = cluster_client.get(url).json()
    picture = Image.open(io.BytesIO(cluster_client.get(page["tiles"][1]["url"]).content))
    assert picture.size == (128, 128)


def test_zooms_and_videos_run_on_the_cluster_with_progress_previews_and_cancel(
    cluster_client: TestClient, chelsea_path: Path, pan_video: Path
) -> None:
    zoom = submit(cluster_client, chelsea_path.read_bytes(), kind="zoom", frames="4", format="gif", **QUICK)
    video = cluster_client.post(
        "/api/jobs",
        files={"video": ("pan.mp4", pan_video.read_bytes(), "video/mp4")},
        data={"kind": "video", **QUICK},
    )
    assert video.status_code == 201, video.text
    zoomed = wait_for(cluster_client, zoom["id"], finished)
    assert zoomed["status"] == "done" and zoomed["progress"] == 1.0 and zoomed["preview_url"]
    assert Image.open(io.BytesIO(cluster_client.get(zoomed["result_url"]).content)).n_frames == 4
    dreamed = wait_for(cluster_client, video.json()["id"], finished)
    assert dreamed["status"] == "done" and dreamed["preview_url"], dreamed
    clip = Path(
        cluster_client.app.state.store.path(cluster_client.app.state.store.get(dreamed["id"]), "result")
    )
    assert probe_video(clip).frames == 10 and audio_codec(clip) == "aac"
    slow = cluster_client.post(
        "/api/jobs",
        files={"video": ("pan.mp4", pan_video.read_bytes(), "video/mp4")},
        data={"kind": "video", **SLOW},
    ).json()
    running = wait_for(
        cluster_client, slow["id"], lambda j: j["status"] == "running" and j["stage"].startswith("frame")
    )
    assert 0 < running["progress"] < 1 and running["preview_url"]
    assert cluster_client.post(f"/api/jobs/{slow['id']}/cancel").status_code == 200
    assert wait_for(cluster_client, slow["id"], finished, timeout=60)["status"] == "cancelled"
