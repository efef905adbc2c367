"""Variations from the page: one upload dreamed with every combination of up to two varied knobs, one
grouped job per cell, each checked as a job is, before the upload is decoded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_client import finished, local_client, wait_for

from reverie.web import WebConfig, create_app

QUICK = {"octaves": "1", "max_side": "64"}


def photo(size: tuple[int, int] = (80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def post(client: TestClient, fields: dict, files: dict | None = None):
    files = files if files is not None else {"image": ("cat.png", photo(), "image/png")}
    return client.post("/api/sweeps", files=files, data={**QUICK, **fields})


@pytest.fixture
def idle(tmp_path: Path) -> TestClient:
    """A server that never dreams (no lifespan, so no workers): submitted jobs stay queued."""
    return local_client(create_app(WebConfig(tmp_path / "data", device="cpu", max_cells=12)))


def test_a_two_by_two_sweep_makes_four_grouped_jobs_that_differ_in_the_varied_knobs_only(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with local_client(create_app(WebConfig(data_dir, device="cpu"))) as client:
        response = post(client, {"vary1": "seed", "values1": "1,2", "vary2": "steps", "values2": "1;2"})
        assert response.status_code == 201, response.text
        jobs = response.json()
        groups = [job["group"] for job in jobs]
        assert len({group["id"] for group in groups}) == 1 and len(groups[0]["id"]) >= 22
        assert [(g["row"], g["column"], g["label"]) for g in groups] == [
            (0, 0, "seed=1, steps=1"), (0, 1, "seed=1, steps=2"),
            (1, 0, "seed=2, steps=1"), (1, 1, "seed=2, steps=2"),
        ]  # fmt: skip
        assert {(g["rows"], g["columns"]) for g in groups} == {(2, 2)}
        assert [(job["settings"]["seed"], job["settings"]["steps"]) for job in jobs] == [
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
        ]
        unvaried = [{k: v for k, v in job["settings"].items() if k not in ("seed", "steps")} for job in jobs]
        assert all(settings == unvaried[0] for settings in unvaried) and unvaried[0]["layers"]
        assert {job["name"] for job in jobs} == {"cat.png"}
        ended = [wait_for(client, job["id"], finished) for job in jobs]
        assert [job["status"] for job in ended] == ["done"] * 4
        assert all(client.get(job["result_url"]).status_code == 200 for job in ended)
        sources = sorted((data_dir / "uploads").iterdir())
        assert len(sources) == 4 and len({path.read_bytes() for path in sources}) == 1  # one upload, linked
        assert client.delete(f"/api/jobs/{jobs[0]['id']}").status_code == 204  # the one received
        again = client.post(f"/api/jobs/{jobs[3]['id']}/again").json()
        assert again["group"] is None and again["settings"]["steps"] == 2  # no cell of the grid
        assert wait_for(client, again["id"], finished)["status"] == "done"  # the others' files stay


#: Two seeds in rows: the other fields of each case below add to these.
SEEDS = {"vary1": "seed", "values1": "1,2"}


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({**SEEDS, "values1": "1,lots"}, "values1", "Seed must be a whole number; got 'lots'"),
        ({**SEEDS, "values1": " , "}, "values1", "no values given for Seed"),
        ({**SEEDS, "vary2": "steps", "values2": "5,500"}, "values2", "Steps must be between 1 and 200"),
        ({"vary1": "max_side", "values1": "64,5000"}, "values1", "Size must be between 1 and 4096 px; got"),
        ({"vary1": "step_size", "values1": "0.01,0"}, "values1", "Strength must be more than 0"),
        ({"vary1": "layers", "values1": "blocks.4;mixed3"}, "values1", "unknown layer"),
        ({"vary1": "preset", "values1": "edges,fancy"}, "values1", "unknown preset 'fancy'"),
        ({"vary1": "model", "values1": "efficientnet_lite0,vgg16"}, "values1", "model vgg16 has no weights"),
        ({**SEEDS, "vary1": "strength"}, "vary1", "Vary must be one of model, preset, layers, steps"),
        ({**SEEDS, "vary2": "seed", "values2": "3"}, "vary2", "each knob can be varied once"),
        ({**SEEDS, "values2": "3,4"}, "vary2", "values without a setting to vary: choose one in And vary"),
        ({**SEEDS, "kind": "zoom"}, "kind", "What to make must be one of dream; got 'zoom'"),
        ({**SEEDS, "stepz": "3"}, "stepz", "the form has no field 'stepz'"),
        (
            {**SEEDS, "values1": "1,2,3,4", "vary2": "steps", "values2": "1,2,3,4"},
            "values2",
            "4 x 4 = 16 dreams is more than this server makes in one sweep (12)",
        ),
        ({**SEEDS, "values1": ",".join(map(str, range(13)))}, "values1", "13 dreams is more than this"),
    ],
)  # fmt: skip
def test_a_bad_value_is_a_422_naming_its_field_before_the_upload_is_decoded(
    idle: TestClient, monkeypatch, tmp_path: Path, fields: dict, field: str, fragment: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no weights of bring-your-own models here
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("REVERIE_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr("reverie.web.app.check_picture", lambda *args: pytest.fail("the upload was decoded"))
    response = post(idle, fields)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", field] and fragment in problem["msg"], problem
    assert idle.get("/api/jobs").json() == []
    assert list((idle.app.state.store.folder / "uploads").iterdir()) == []


def test_the_cap_is_a_servers_setting_and_its_bound_is_told(idle: TestClient) -> None:
    response = post(idle, {"vary1": "seed", "values1": "1,2,3,4", "vary2": "steps", "values2": "1,2,3,4"})
    assert response.json()["detail"][0]["ctx"] == {"maximum": 12}
    assert (
        post(idle, {"vary1": "seed", "values1": "1,2,3", "vary2": "steps", "values2": "1,2,3,4"}).status_code
        == 201
    )
    assert len(idle.get("/api/jobs").json()) == 12


def test_a_sweep_with_a_guide_is_planned_once_the_guide_is_stored_and_a_refused_one_leaves_nothing(
    idle: TestClient,
) -> None:
    files = {
        "image": ("cat.png", photo(), "image/png"),
        "guide": ("flowers.png", photo((50, 50)), "image/png"),
    }
    made = post(idle, {"vary1": "layers", "values1": "guide:blocks.8;blocks.8"}, files)
    assert made.status_code == 201, made.text
    assert [job["settings"]["layers"] for job in made.json()] == ["guide:blocks.8", "blocks.8"]
    assert all(job["has_guide"] for job in made.json())
    uploads = idle.app.state.store.folder / "uploads"
    before = sorted(uploads.iterdir())
    refused = post(idle, {"vary1": "layers", "values1": "guide:blocks.8;mixed3"}, files)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "values1"]
    assert sorted(uploads.iterdir()) == before and len(idle.get("/api/jobs").json()) == 2
    without = post(idle, {"vary1": "layers", "values1": "guide:blocks.8"})
    assert without.status_code == 422 and without.json()["detail"][0]["loc"] == ["body", "guide"]


def test_a_sweep_is_documented_with_its_fields(idle: TestClient) -> None:
    schema = idle.get("/openapi.json").json()
    assert "/api/sweeps" in schema["paths"]
    form = schema["components"]["schemas"]["SweepForm"]["properties"]
    assert {"vary1", "values1", "vary2", "values2", "steps", "seed"} <= set(form)
    assert form["vary1"]["enum"][:3] == ["model", "preset", "layers"] and form["vary2"]["enum"][0] == ""
