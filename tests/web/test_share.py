"""Share links: a read-only, unguessable, revocable address for one finished job's result, and
nothing else; served without the server's access token, never framed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_client import local_client

from reverie.settings import DreamSettings, ZoomSettings
from reverie.web import WebConfig, create_app
from reverie.web.app import draft_job
from reverie.web.guard import needs_no_token
from reverie.web.jobs import DONE, SHARE_TOKEN, Job, new_job_id, new_share_token

TOKEN = "a-long-test-token"
SETTINGS = DreamSettings(model="efficientnet_lite0", layers="blocks.8,blocks.11", seed=7)


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    """A server that never dreams (no lifespan, so no workers): its jobs stay as they are stored."""
    return local_client(create_app(WebConfig(tmp_path / "data", device="cpu")))


def finished(
    client: TestClient, colour: tuple[int, int, int], kind: str = "dream", name: str = "cat.png"
) -> Job:
    """A job done as a worker leaves one: its upload, its working picture and its result on disk."""
    store = client.app.state.store
    job_id = new_job_id()
    files = {"source": f"{job_id}.png", "picture": f"{job_id}.png"}
    options = {"motion": ZoomSettings(frames=3).to_dict()} if kind == "zoom" else {}
    job = store.add(draft_job(job_id, kind, SETTINGS, options, files, name, (40, 30), "gif"))
    for role in ("source", "picture", "result"):
        store.path(job, role).write_bytes(png(colour))
    (store.folder / "previews" / f"{job_id}.jpg").write_bytes(b"preview")
    store.finish(job_id, DONE)
    return store.get(job_id)


def shared(client: TestClient, job: Job, settings: bool = False) -> str:
    """The token of a new share link of ``job``."""
    response = client.post(f"/api/jobs/{job.id}/share", data={"settings": str(settings).lower()})
    assert response.status_code == 200, response.text
    assert response.json()["settings"] is settings
    url = response.json()["url"]
    assert url.startswith("/s/") and SHARE_TOKEN.fullmatch(url[3:])
    return url[3:]


def test_a_share_link_serves_its_result_on_a_page_that_no_other_page_may_frame(client: TestClient) -> None:
    job = finished(client, (200, 40, 40))
    token = shared(client, job)
    assert client.get(f"/api/jobs/{job.id}").json()["share_url"] == f"/s/{token}"
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<img src="/s/{token}/result" width="40" height="30"' in page.text
    assert "Seed" not in page.text and job.id not in page.text  # settings not chosen; no job id
    result = client.get(f"/s/{token}/result")
    assert result.status_code == 200 and result.content == png((200, 40, 40))
    assert result.headers["content-type"] == "image/png"
    assert result.headers["content-disposition"] == 'attachment; filename="cat-dream.png"'
    for response in (page, result):
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
    head = client.head(f"/s/{token}/result")
    assert head.status_code == 200 and head.content == b""


def test_a_link_may_show_the_settings_and_keeps_its_address_when_they_change(client: TestClient) -> None:
    job = finished(client, (40, 200, 40))
    token = shared(client, job)
    assert shared(client, job, settings=True) == token  # a link given out stays valid
    page = client.get(f"/s/{token}").text
    assert "Look: patterns · 10 steps x 4 octaves · Strength: 0.01 · Seed: 7" in page
    assert shared(client, job, settings=False) == token and "Seed" not in client.get(f"/s/{token}").text


def test_a_video_or_an_animation_is_played_on_its_page(client: TestClient) -> None:
    zoom = finished(client, (90, 90, 200), kind="zoom")  # a GIF: an image that moves
    page = client.get(f"/s/{shared(client, zoom)}").text
    assert "<h1>A zoom animation</h1><img src=" in page
    store = client.app.state.store
    video = finished(client, (90, 90, 90), kind="video", name="clip.mp4")
    assert store.path(video, "result").suffix == ".mp4"
    token = shared(client, video)
    assert f'<video src="/s/{token}/result" width="40" height="30" controls' in client.get(f"/s/{token}").text
    result = client.get(f"/s/{token}/result")
    assert result.headers["content-type"] == "video/mp4"
    assert result.headers["content-disposition"] == 'attachment; filename="clip-dreamed.mp4"'


def test_a_share_token_reaches_its_result_and_nothing_else(client: TestClient) -> None:
    mine, other, private = (finished(client, colour) for colour in ((1, 2, 3), (4, 5, 6), (7, 8, 9)))
    token, other_token = shared(client, mine), shared(client, other)
    assert client.get(f"/s/{other_token}/result").content == png((4, 5, 6))  # each link its own
    for path in (
        f"/s/{token}/source",
        f"/s/{token}/preview",
        f"/s/{token}/picture",
        f"/s/{token}/result/more",
        f"/s/{token}/%2e%2e/api/jobs",
        f"/s/{token}%2F..%2F..%2Fapi%2Fjobs",
        f"/s/{token}/../api/jobs",  # the client resolves it: /s/api/jobs
        f"/s/{token}/{other.id}",
        f"/s/{token}/{other_token}/result",
        f"/s/{token}x",
        f"/s/{token[:-1]}",
        f"/s/{private.id}",  # a job's id is no share token
        f"/s/{private.id}/result",
        f"/s/{new_share_token()}",
        f"/s/{new_share_token()}/result",
        "/s/",
        "/s",
    ):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert png((1, 2, 3)) not in response.content and png((4, 5, 6)) not in response.content
    for method in ("post", "put", "delete", "patch"):
        assert client.request(method, f"/s/{token}/result").status_code == 405  # read-only
    assert client.get(f"/s/{token}/result").content == png((1, 2, 3))


def test_a_link_is_revoked_by_its_owner_or_by_deleting_the_job(client: TestClient) -> None:
    job = finished(client, (10, 20, 30))
    token = shared(client, job)
    assert client.delete(f"/api/jobs/{job.id}/share").status_code == 204
    assert client.get(f"/api/jobs/{job.id}").json()["share_url"] is None
    assert (
        client.get(f"/s/{token}").status_code == 404 and client.get(f"/s/{token}/result").status_code == 404
    )
    assert "taken it back" in client.get(f"/s/{token}").text
    again = shared(client, job)
    assert again != token and client.get(f"/s/{token}/result").status_code == 404
    assert client.delete(f"/api/jobs/{job.id}").status_code == 204
    assert (
        client.get(f"/s/{again}").status_code == 404 and client.get(f"/s/{again}/result").status_code == 404
    )


def test_only_a_finished_jobs_result_is_shared(client: TestClient) -> None:
    store = client.app.state.store
    job_id = new_job_id()
    store.add(draft_job(job_id, "dream", SETTINGS, {}, {"source": f"{job_id}.png"}, "cat.png", (40, 30), ""))
    refused = client.post(f"/api/jobs/{job_id}/share")
    assert refused.status_code == 409 and "queued" in refused.json()["detail"]
    assert store.get(job_id).share == ""
    assert client.post("/api/jobs/nope/share").status_code == 404
    assert client.delete("/api/jobs/nope/share").status_code == 404


def test_a_server_with_a_token_serves_share_links_without_it_and_nothing_else(tmp_path: Path) -> None:
    app = create_app(WebConfig(tmp_path / "data", device="cpu", token=TOKEN, allowed_hosts=("*",)))
    owner = TestClient(app, base_url="http://192.168.1.5:8000", headers={"Authorization": f"Bearer {TOKEN}"})
    job = finished(owner, (50, 60, 70))
    token = shared(owner, job)
    visitor = TestClient(app, base_url="http://192.168.1.5:8000")
    assert visitor.get(f"/s/{token}").status_code == 200
    assert visitor.get(f"/s/{token}/result").content == png((50, 60, 70))
    assert visitor.head(f"/s/{token}/result").status_code == 200
    assert visitor.get(f"/s/{new_share_token()}").status_code == 404  # past the guard, found nothing
    for path in (
        "/",
        "/api/jobs",
        f"/api/jobs/{job.id}",
        f"/api/jobs/{job.id}/result",
        f"/api/jobs/{job.id}/source",
        f"/s/{token}/source",
        f"/s/{token}/%2e%2e/api/jobs",
        f"/s/{token}/../api/jobs",
        f"/s/{token}/result/",
        "/docs",
    ):
        assert visitor.get(path).status_code == 401, path
    assert visitor.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert visitor.post(f"/api/jobs/{job.id}/share").status_code == 401
    assert visitor.delete(f"/api/jobs/{job.id}/share").status_code == 401
    assert visitor.post(f"/s/{token}/result").status_code == 401


def test_the_exemption_from_the_token_is_reading_a_share_link_only() -> None:
    token = new_share_token()
    assert all(SHARE_TOKEN.fullmatch(new_share_token()) for _ in range(100))
    for method in ("GET", "HEAD"):
        assert needs_no_token(method, f"/s/{token}") and needs_no_token(method, f"/s/{token}/result")
    assert not any(
        needs_no_token(method, f"/s/{token}") for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    )
    for path in (
        "/", "/s", "/s/", f"/s/{token}/", f"/s/{token}/source", f"/s/{token}/result/", f"/s/{token}/../api",
        f"/s/{token}x", f"/s/{token[:-1]}", f"/s/{token}\n", f"/S/{token}", f"//s/{token}", f"/x/s/{token}",
        f"/api/jobs/{token}", f"/s/{token}/result?x", f"/s/{'.' * 43}", f"/s/{token}/result/../../api/jobs",
    ):  # fmt: skip
        assert not needs_no_token("GET", path), path
