"""The web app's HTTP API with the real model: jobs, progress, cancel, downloads, bad uploads, restarts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_client import finished, local_client, submit, wait_for

from reverie.io.images import read_metadata
from reverie.recipe import read_settings
from reverie.web import WebConfig, allowed_hosts, create_app, is_loopback
from reverie.web.jobs import INTERRUPTED, JobStore, display_name
from reverie.web.worker import Workers

QUICK = {"steps": "2", "octaves": "2", "max_side": "128"}
#: Slow enough to be seen running, cancelled or interrupted (about a minute if left alone).
SLOW = {"steps": "200", "octaves": "3", "max_side": "320"}


def png_bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir: Path):
    with local_client(create_app(WebConfig(data_dir, device="cpu"))) as client:
        yield client


def test_a_job_runs_and_its_dream_downloads(client: TestClient, chelsea_path: Path) -> None:
    job = submit(client, png_bytes(chelsea_path), **QUICK, seed="3", step_size="0.02")
    assert job["status"] == "queued" and (job["width"], job["height"]) == (128, 85)  # the result's size
    assert job["settings"]["layers"] == "blocks.8,blocks.11"  # the preset, resolved at submit
    done = wait_for(client, job["id"], finished)
    assert done["status"] == "done" and done["progress"] == 1.0 and done["result_url"]
    download = client.get(done["result_url"])
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"] == 'attachment; filename="cat-dream.png"'
    result = Image.open(io.BytesIO(download.content))
    assert result.size == (128, 85)
    original = np.asarray(Image.open(chelsea_path).convert("RGB").resize((128, 85)), np.float32) / 255
    assert np.abs(np.asarray(result.convert("RGB"), np.float32) / 255 - original).mean() > 0.01
    store = client.app.state.store
    saved = store.path(store.get(job["id"]), "result")
    assert read_settings(saved).seed == 3 and read_settings(saved).step_size == 0.02
    assert client.get(done["preview_url"]).headers["content-type"] == "image/jpeg"
    assert client.get(done["source_url"]).status_code == 200
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]


@pytest.mark.slow
def test_progress_and_previews_arrive_and_a_running_job_cancels(
    client: TestClient, chelsea_path: Path
) -> None:
    job = submit(client, png_bytes(chelsea_path), **SLOW)
    running = wait_for(client, job["id"], lambda j: j["status"] == "running" and j["preview_url"])
    assert 0 < running["progress"] < 1 and running["stage"].startswith("octave ")
    preview = Image.open(io.BytesIO(client.get(running["preview_url"]).content))
    assert preview.width < 320  # the first octave is smaller than the working size
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    stopped = wait_for(client, job["id"], finished, timeout=30)
    assert stopped["status"] == "cancelled" and stopped["result_url"] is None
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 404
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 409


def test_jobs_queue_one_at_a_time_and_a_queued_job_cancels(client: TestClient, chelsea_path: Path) -> None:
    first = submit(client, png_bytes(chelsea_path), **SLOW)
    second = submit(client, png_bytes(chelsea_path), **QUICK)
    wait_for(client, first["id"], lambda j: j["status"] == "running")
    assert client.get(f"/api/jobs/{second['id']}").json()["status"] == "queued"
    assert client.post(f"/api/jobs/{second['id']}/cancel").json()["status"] == "cancelled"
    client.post(f"/api/jobs/{first['id']}/cancel")
    wait_for(client, first["id"], finished, timeout=30)
    retried = client.post(f"/api/jobs/{second['id']}/retry").json()
    assert retried["status"] in ("queued", "running")  # the idle worker may have taken it already
    assert wait_for(client, second["id"], finished)["status"] == "done"


def bad_uploads(tmp_path: Path, photo: bytes) -> list[tuple[dict, bytes, int, str]]:
    """(form fields, file bytes, expected status, message fragment)."""
    return [
        ({}, b"", 400, "empty"),
        ({}, b"hello, not a picture", 415, "not an image"),
        ({}, photo[:3000], 400, "cannot read image 'x.png'"),
        ({"layers": "mixed3"}, photo, 422, "unknown layer"),
        (
            {"layers": "blocks.8=1e39"},
            photo,
            422,
            "the weight of 'blocks.8=1e39' must be between -1000 and 1000",
        ),
        ({"preset": "fancy"}, photo, 422, "unknown preset"),
        ({"model": "alexnet"}, photo, 422, "unknown model"),
        ({"model": "vgg16"}, photo, 422, "no weights"),
        ({"steps": "0"}, photo, 422, "Steps must be between 1 and 200; got 0"),
        ({"steps": "201"}, photo, 422, "Steps must be between 1 and 200; got 201"),
        ({"step_size": "lots"}, photo, 422, "Strength must be a number; got 'lots'"),
        ({"step_size": "nan"}, photo, 422, "Strength must be more than 0 and at most 1; got nan"),
        ({"strength": "0.02"}, photo, 422, "the form has no field 'strength'"),
    ]


def test_bad_uploads_get_clear_messages_and_leave_nothing(
    tmp_path: Path, chelsea_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("REVERIE_WEIGHTS_DIR", raising=False)
    data_dir = tmp_path / "data"
    config = WebConfig(data_dir, device="cpu", max_upload_bytes=400_000, max_pixels=200_000)
    photo = png_bytes(chelsea_path)
    with local_client(create_app(config)) as client:
        for fields, data, status, fragment in bad_uploads(tmp_path, photo):
            response = client.post("/api/jobs", files={"image": ("x.png", data, "image/png")}, data=fields)
            assert response.status_code == status, (fields, response.text)
            assert fragment in str(response.json()["detail"]), (fields, response.text)
        big = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 400, 3), np.uint8)).save(big, "PNG")
        response = client.post("/api/jobs", files={"image": ("big.png", big.getvalue(), "image/png")})
        assert response.status_code == 413 and "larger than" in response.json()["detail"]
        wide = io.BytesIO()
        Image.new("RGB", (1000, 300)).save(wide, "PNG")  # 300,000 px > 200,000
        response = client.post("/api/jobs", files={"image": ("wide.png", wide.getvalue(), "image/png")})
        assert response.status_code == 413 and "more than 200,000 pixels" in response.json()["detail"]
        assert client.get("/api/jobs").json() == []
    assert [p.name for p in (data_dir / "uploads").iterdir()] == []


def test_a_picture_smaller_than_the_network_is_dreamed_at_its_own_size(
    client: TestClient, data_dir: Path
) -> None:
    tiny = io.BytesIO()
    Image.new("RGB", (12, 12), (200, 120, 40)).save(tiny, "PNG")
    job = submit(client, tiny.getvalue(), name="icon.png", **QUICK)
    assert wait_for(client, job["id"], finished)["status"] == "done"
    result = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/result").content))
    assert result.size == (12, 12)


def test_the_model_list_builds_no_network(client: TestClient, monkeypatch) -> None:
    monkeypatch.setattr("reverie.models.registry.ModelSpec.build", lambda self: pytest.fail("built"))
    models = {model["name"]: model for model in client.get("/api/models").json()}
    lite0 = models["efficientnet_lite0"]
    assert lite0["layers"][:2] == ["stem", "blocks.0"] and lite0["default_preset"] == "patterns"


def test_user_file_names_never_become_paths(client: TestClient, chelsea_path: Path, data_dir: Path) -> None:
    job = submit(client, png_bytes(chelsea_path), name="../../escape.png", **QUICK)
    assert job["name"] == "escape.png" and len(job["id"]) >= 22
    assert sorted(p.name for p in (data_dir / "uploads").iterdir()) == [f"{job['id']}.png"]
    assert not (data_dir.parent / "escape.png").exists()
    assert display_name("C:\\Users\\me\\cat.jpg") == "cat.jpg" and display_name("") == "upload"
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope/result").status_code == 404


def test_queued_jobs_and_results_survive_a_restart(data_dir: Path, chelsea_path: Path) -> None:
    photo = png_bytes(chelsea_path)
    app = create_app(WebConfig(data_dir, device="cpu"))
    # No lifespan yet, so no workers: the job stays queued, as if the server stopped before it ran.
    queued = submit(local_client(app), photo, **QUICK)
    store = JobStore(data_dir)
    assert store.get(queued["id"]).status == "queued"
    with local_client(create_app(WebConfig(data_dir, device="cpu"))) as client:
        assert wait_for(client, queued["id"], finished)["status"] == "done"
    with local_client(create_app(WebConfig(data_dir, device="cpu"))) as client:
        job = client.get(f"/api/jobs/{queued['id']}").json()
        assert job["status"] == "done" and client.get(job["result_url"]).status_code == 200


def test_a_job_left_running_by_a_killed_server_is_marked_interrupted(
    data_dir: Path, chelsea_path: Path
) -> None:
    app = create_app(WebConfig(data_dir, device="cpu"))
    job = submit(local_client(app), png_bytes(chelsea_path), **QUICK)
    JobStore(data_dir).claim_next()  # running, then the process "dies"
    with local_client(create_app(WebConfig(data_dir, device="cpu"))) as client:
        interrupted = client.get(f"/api/jobs/{job['id']}").json()
        assert interrupted["status"] == INTERRUPTED and "server stopped" in interrupted["error"]
        assert client.post(f"/api/jobs/{job['id']}/retry").json()["status"] == "queued"
        assert wait_for(client, job["id"], finished)["status"] == "done"


def test_the_api_is_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/cancel",
        "/api/jobs/{job_id}/result",
    } <= set(schema["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<title>Reverie" in page.text
    models = client.get("/api/models").json()
    assert "efficientnet_lite0" in [m["name"] for m in models]


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_foreign_sites_and_host_names_are_refused(client: TestClient, chelsea_path: Path) -> None:
    """DNS rebinding sends a foreign Host; a cross-site form post sends a foreign Origin."""
    assert client.get("/api/jobs", headers={"host": "attacker.example"}).status_code == 400
    assert client.get("/api/jobs", headers={"host": "localhost:8000"}).status_code == 200
    files = {"image": ("cat.png", png_bytes(chelsea_path), "image/png")}
    refused = client.post(
        "/api/jobs", files=files, data=QUICK, headers={"origin": "https://attacker.example"}
    )
    assert refused.status_code == 403 and client.get("/api/jobs").json() == []
    same_site = client.post("/api/jobs", files=files, data=QUICK, headers={"origin": "http://127.0.0.1:8000"})
    assert same_site.status_code == 201
    assert allowed_hosts("0.0.0.0") == ("*",) and "192.168.1.5" in allowed_hosts("192.168.1.5")
    assert "[::1]" in allowed_hosts("::1")


def test_a_declared_oversize_upload_is_refused_before_it_is_read(data_dir: Path) -> None:
    with local_client(create_app(WebConfig(data_dir, device="cpu", max_upload_bytes=1024 * 1024))) as client:
        response = client.post(
            "/api/jobs", content=b"x" * 10, headers={"content-length": str(50 * 1024 * 1024)}
        )
        assert response.status_code == 413 and "larger than 1 MB" in response.json()["detail"]


def test_a_late_cancel_does_not_stop_a_retried_job(client: TestClient, chelsea_path: Path) -> None:
    job = submit(client, png_bytes(chelsea_path), **QUICK)
    assert wait_for(client, job["id"], finished)["status"] == "done"
    client.app.state.workers.cancel(job["id"])  # arrived after the job had finished
    client.app.state.store.finish(job["id"], "interrupted")
    client.post(f"/api/jobs/{job['id']}/retry")
    assert wait_for(client, job["id"], finished)["status"] == "done"


def test_a_job_whose_gradient_stops_being_finite_fails_without_a_result(
    client: TestClient, chelsea_path: Path, data_dir: Path, monkeypatch
) -> None:
    from reverie import render

    real_gradient = render.region_gradient

    def poisoned(*args, **kwargs):
        gradient, score = real_gradient(*args, **kwargs)
        return gradient * float("nan"), score

    monkeypatch.setattr(render, "region_gradient", poisoned)
    job = submit(client, png_bytes(chelsea_path), **QUICK)
    ended = wait_for(client, job["id"], finished)
    assert ended["status"] == "failed" and ended["result_url"] is None
    assert ended["error"] == "the dream's gradient stopped being a finite number; nothing was saved"
    assert list((data_dir / "results").iterdir()) == []


def test_a_results_settings_name_uploads_as_uploaded_never_by_server_path(
    client: TestClient, chelsea_path: Path, coffee_path: Path, data_dir: Path
) -> None:
    files = {
        "image": ("cat.png", png_bytes(chelsea_path), "image/png"),
        "guide": ("flowers.png", png_bytes(coffee_path), "image/png"),
    }
    job = client.post("/api/jobs", files=files, data=QUICK).json()
    assert wait_for(client, job["id"], finished)["status"] == "done"
    saved = client.app.state.store.path(client.app.state.store.get(job["id"]), "result")
    assert read_settings(saved).guide == "flowers.png"
    assert str(data_dir) not in str(read_metadata(saved))


def test_a_looks_thumbnail_is_dreamed_on_the_jobs_model(
    data_dir: Path, chelsea_path: Path, monkeypatch
) -> None:
    from reverie.tasks import Task

    loaded = []
    load = Task.new_dreamer
    monkeypatch.setattr(Task, "new_dreamer", lambda task: loaded.append(task) or load(task))
    # Watched from the start: the server makes the other models' looks in the background too.
    with local_client(create_app(WebConfig(data_dir, device="cpu"))) as client:
        look = client.get("/api/looks/efficientnet_lite0/edges.jpg")
        assert look.status_code == 200 and look.headers["content-type"] == "image/jpeg"
        job = submit(client, png_bytes(chelsea_path), **QUICK)
        assert wait_for(client, job["id"], finished)["status"] == "done"
    lite0 = [task for task in loaded if task.settings.model == "efficientnet_lite0"]
    assert len(lite0) == 1  # the look and the job dreamed on one copy of the model


def test_a_bug_reaches_the_page_as_its_kind_only(
    client: TestClient, chelsea_path: Path, data_dir: Path, monkeypatch, caplog
) -> None:
    def broken(*args, **kwargs):
        raise FileNotFoundError(f"[Errno 2] No such file: '{data_dir}/secret/cache.bin'")

    monkeypatch.setattr("reverie.render.region_gradient", broken)
    job = submit(client, png_bytes(chelsea_path), **QUICK)
    ended = wait_for(client, job["id"], finished)
    assert ended["status"] == "failed"
    assert ended["error"] == "internal error (FileNotFoundError); the server's log has the details"
    assert "secret/cache.bin" in caplog.text  # the server's log has it all
    again = submit(client, png_bytes(chelsea_path), **QUICK)  # the worker goes on
    monkeypatch.undo()
    assert wait_for(client, again["id"], finished)["status"] == "done"


def test_queued_jobs_are_told_their_place_in_the_queue(data_dir: Path, chelsea_path: Path) -> None:
    client = local_client(create_app(WebConfig(data_dir, device="cpu")))  # no workers: jobs stay queued
    jobs = [submit(client, png_bytes(chelsea_path), **QUICK) for _ in range(3)]
    assert [job["queue_position"] for job in jobs] == [1, 2, 3]
    assert [job["eta_seconds"] for job in jobs] == [None] * 3  # no finished job tells the server's pace
    listed = {job["id"]: job["queue_position"] for job in client.get("/api/jobs").json()}
    assert [listed[job["id"]] for job in jobs] == [1, 2, 3]
    client.post(f"/api/jobs/{jobs[0]['id']}/cancel")
    places = [client.get(f"/api/jobs/{job['id']}").json()["queue_position"] for job in jobs]
    assert places == [None, 1, 2]


def test_a_running_job_tells_its_time_left_and_shows_a_preview_in_its_first_steps(
    client: TestClient, chelsea_path: Path, monkeypatch
) -> None:
    previews: list[str] = []
    report = Workers.report

    def noted(self, job, fraction: float, stage: str, preview: bytes = b"") -> None:
        if preview:
            previews.append(stage)
        report(self, job, fraction, stage, preview)

    monkeypatch.setattr(Workers, "report", noted)
    job = submit(client, png_bytes(chelsea_path), **SLOW)
    shown = wait_for(client, job["id"], lambda j: j["preview_url"] is not None)
    assert shown["stage"].startswith("octave 1/3, ") and previews[0] == "octave 1/3, step 1/200"
    first = wait_for(client, job["id"], lambda j: j["eta_seconds"] is not None and j["progress"] > 0.02)
    assert first["status"] == "running" and first["queue_position"] is None and first["eta_seconds"] > 0
    # a tenth of the job later the estimate is lower, even if a busy machine slowed the rate meanwhile
    later = wait_for(client, job["id"], lambda j: j["progress"] > first["progress"] + 0.1)
    assert 0 < later["eta_seconds"] < first["eta_seconds"]
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert wait_for(client, job["id"], finished, timeout=30)["eta_seconds"] is None
