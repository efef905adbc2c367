"""The jobs as a gallery lists them: every job reachable page by page, filters by kind and look, and
each job's settings in one line in the form's words."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_client import local_client, submit

from reverie.schema import declaration
from reverie.settings import DreamSettings, VideoSettings, ZoomSettings
from reverie.web import WebConfig, create_app
from reverie.web.app import draft_job
from reverie.web.form import FORM_KNOBS, KIND_SETTINGS
from reverie.web.gallery import job_look, job_summary
from reverie.web.jobs import Job, new_job_id

LITE0 = DreamSettings(model="efficientnet_lite0")
PATTERNS = LITE0.with_changes(layers="blocks.8,blocks.11")  # the default look, as a job stores it
EDGES = LITE0.with_changes(preset="edges", layers="blocks.2,blocks.4")
OWN = LITE0.with_changes(preset="edges", layers="blocks.3")  # a look named, layers of one's own


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    """A server that never dreams (no lifespan, so no workers): its jobs stay as they are stored."""
    return local_client(create_app(WebConfig(tmp_path / "data", device="cpu")))


def add(client: TestClient, kind: str, settings: DreamSettings, options: dict | None = None) -> Job:
    """A job stored as the app stores one (no files: nothing runs it)."""
    job_id = new_job_id()
    job = draft_job(
        job_id, kind, settings, options or {}, {"source": f"{job_id}.png"}, "cat.png", (64, 48), "gif"
    )
    return client.app.state.store.add(job)


def listed(client: TestClient, **query: str | int) -> tuple[list[str], int]:
    response = client.get("/api/jobs", params=query)
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()], int(response.headers["X-Total-Count"])


def test_every_job_is_reachable_page_by_page_newest_first(client: TestClient) -> None:
    added = [add(client, "dream", PATTERNS).id for _ in range(7)]
    pages = [listed(client, limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [len(ids) for ids, _ in pages] == [3, 3, 1, 0] and {total for _, total in pages} == {7}
    assert [job_id for ids, _ in pages for job_id in ids] == added[::-1]
    assert listed(client) == (added[::-1], 7)  # 50 by default


def test_jobs_are_filtered_by_kind_and_look(client: TestClient) -> None:
    patterns = add(client, "dream", PATTERNS).id
    edges = add(client, "dream", EDGES).id
    own = add(client, "dream", OWN).id
    zoom = add(client, "zoom", EDGES, {"motion": ZoomSettings(frames=5).to_dict()}).id
    video = add(client, "video", PATTERNS, {"coherence": VideoSettings().to_dict()}).id
    assert listed(client, kind="zoom") == ([zoom], 1)
    assert listed(client, kind="dream") == ([own, edges, patterns], 3)
    assert listed(client, look="edges") == ([zoom, edges], 2)
    assert listed(client, look="patterns") == ([video, patterns], 2)
    assert listed(client, look="objects") == ([], 0)
    assert listed(client, look="edges", limit=1, offset=1) == ([edges], 2)
    assert listed(client, look="edges", kind="dream") == ([edges], 1)
    assert own not in listed(client, look="edges")[0]  # its layers are not the look's


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "sheet"}, "kind"),
        ({"look": "fancy"}, "look"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_a_listing_out_of_bounds_is_a_422_naming_its_parameter(
    client: TestClient, query: dict, field: str
) -> None:
    response = client.get("/api/jobs", params=query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_a_jobs_look_is_the_preset_whose_layers_it_dreams() -> None:
    assert job_look(PATTERNS) == "patterns" and job_look(EDGES) == "edges" and job_look(OWN) == ""
    assert job_look(LITE0.with_changes(layers="blocks.5,blocks.7")) == "textures"


def test_a_summary_is_the_settings_in_one_line_in_the_forms_words(client: TestClient) -> None:
    dream = add(client, "dream", PATTERNS.with_changes(seed=3, step_size=0.02, max_side=768))
    assert (
        job_summary(dream)
        == "Look: patterns · 10 steps x 4 octaves · Strength: 0.02 · Seed: 3 · Size: 768 px"
    )
    own = add(client, "dream", OWN.with_changes(max_side=0, keep_colors=True, model="inception_v3"))
    assert job_summary(own).startswith("Model: inception_v3 · Layers: blocks.3 · ")
    assert "Size: full size" in job_summary(own) and job_summary(own).endswith(" · Keep the photo's colours")
    zoom = add(client, "zoom", EDGES, {"motion": ZoomSettings(frames=7, stabilise=False).to_dict()})
    assert "Frames: 7 · Zoom (% per frame): 2 · Turn (degrees per frame): 0" in job_summary(zoom)
    assert job_summary(zoom).endswith("Frames per second: 12 · Steady colours: off")
    video = add(client, "video", PATTERNS, {"coherence": VideoSettings(flow=False).to_dict()})
    assert job_summary(video).endswith("Blend: 0.5 · Follow the motion: off")
    assert client.get(f"/api/jobs/{video.id}").json()["summary"] == job_summary(video)


@pytest.mark.parametrize("kind", list(KIND_SETTINGS))
def test_every_knob_the_form_offers_a_kind_is_in_its_summary_by_its_label(
    client: TestClient, kind: str
) -> None:
    changed = {
        "motion": ZoomSettings(stabilise=False).to_dict(),
        "coherence": VideoSettings(flow=False).to_dict(),
    }
    job = add(client, kind, EDGES.with_changes(keep_colors=True), changed)
    for settings_class in KIND_SETTINGS[kind]:
        for name in FORM_KNOBS[settings_class]:
            if name not in ("model", "layers"):  # the default model goes unsaid; a look stands for layers
                label = declaration(settings_class, name).knob.label
                assert label in job_summary(job) or label.lower() in job_summary(job), name


def test_a_submitted_job_shows_its_summary(client: TestClient) -> None:
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 140, 200)).save(photo, "PNG")
    job = submit(client, photo.getvalue(), steps="5", octaves="2", seed="11", preset="textures")
    assert job["summary"] == "Look: textures · 5 steps x 2 octaves · Strength: 0.01 · Seed: 11 · Size: 768 px"


def test_a_job_of_a_model_this_version_no_longer_has_is_still_listed(client: TestClient) -> None:
    retired = add(client, "dream", DreamSettings(model="retired_net", layers="block9"))
    [shown] = client.get("/api/jobs").json()
    assert shown["id"] == retired.id and shown["summary"].startswith("Model: retired_net · Layers: block9 · ")
    assert shown["queue_position"] == 1 and shown["eta_seconds"] is None
