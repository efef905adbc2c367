"""The web form is the settings' declaration: the page's inputs, the OpenAPI schema and what the server
enforces all come from it, with this server's caps applied; mistakes are 422s that name their field."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_client import local_client

from reverie.errors import SettingsError
from reverie.schema import number_text
from reverie.settings import VideoSettings, ZoomSettings
from reverie.web import WebConfig, create_app
from reverie.web.form import FORM_KNOBS, check_values, form_fields

#: This server's caps, below the library's limits.
CAPS = {"max_steps": 50, "max_side": 1000, "max_frames": 90}


class Inputs(HTMLParser):
    """The attributes of every input of a page, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str]] = {}
        self.radios: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag in ("input", "select") and "id" in values:
            self.found[values["id"]] = values
        if tag == "input" and values.get("name") == "kind":
            self.radios.append(values)


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """A server that never dreams (no lifespan, so no workers): submitted jobs stay queued."""
    return local_client(create_app(WebConfig(tmp_path_factory.mktemp("data"), device="cpu", **CAPS)))


@pytest.fixture(scope="module")
def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def post(client: TestClient, photo: bytes, **fields: str):
    return client.post("/api/jobs", files={"image": ("p.png", photo, "image/png")}, data=fields)


def kind_of(name: str) -> str:
    """The kind of job that takes the knob ``name``."""
    if name in FORM_KNOBS[ZoomSettings]:
        return "zoom"
    return "video" if name in FORM_KNOBS[VideoSettings] else "dream"


def numeric_fields() -> dict:
    return {name: entry for name, entry in form_fields(CAPS).items() if entry.item.kind in (int, float)}


def test_the_page_and_the_openapi_schema_show_the_declared_bounds(client: TestClient) -> None:
    page = Inputs()
    page.feed(client.get("/").text)
    schema = client.get("/openapi.json").json()["components"]["schemas"]["DreamForm"]["properties"]
    assert set(schema) == {"kind", "format", *(name for names in FORM_KNOBS.values() for name in names)}
    assert schema["kind"]["enum"] == ["dream", "zoom", "video"] and schema["format"]["enum"] == [
        "mp4",
        "gif",
        "webp",
    ]
    for name, entry in numeric_fields().items():
        rules, attributes, bounds = entry.rules, page.found[name], schema[name]
        low_key = "exclusiveMinimum" if rules.above else "minimum"
        high_key = "exclusiveMaximum" if rules.below else "maximum"
        assert bounds[low_key] == rules.minimum and bounds[high_key] == rules.maximum, name
        lowest = rules.minimum + (rules.step if rules.above else 0)  # an exclusive bound: the next step
        assert float(attributes["min"]) == pytest.approx(lowest), name
        highest = float(attributes["max"]) if rules.maximum < 2**53 else int(attributes["max"])
        assert highest == rules.maximum - rules.below, name  # HTML's max is a value accepted
        assert attributes["value"] == number_text(entry.default) and bounds["default"] == entry.default, name
    assert page.found["steps"]["max"] == "50" and page.found["max_side"]["max"] == "1000"  # the caps
    assert page.found["frames"]["max"] == "90"
    assert client.get("/api/server").json()["caps"] == {"steps": 50, "max_side": 1000, "frames": 90}
    assert "(between 1 and 50.)" in client.get("/").text  # the help beside the steps says the cap too
    kinds = [(radio["value"], "checked" in radio) for radio in page.radios]
    assert kinds == [("dream", True), ("zoom", False), ("video", False)]


def test_the_server_enforces_exactly_the_declared_bounds(
    client: TestClient, photo: bytes, pan_video: Path
) -> None:
    def send(name: str, value: object):
        """``name=value`` in a job of the kind that takes it (a video's knobs with a video)."""
        kind = kind_of(name)
        upload = ("video", ("pan.mp4", pan_video.read_bytes(), "video/mp4")) if kind == "video" else None
        files = dict([upload]) if upload else {"image": ("p.png", photo, "image/png")}
        return client.post("/api/jobs", files=files, data={"kind": kind, name: str(value)})

    for name, entry in numeric_fields().items():
        rules, kind = entry.rules, entry.item.kind
        highest = kind(rules.maximum) - (1 if rules.below else 0)
        within = send(name, highest)
        assert within.status_code == 201, (name, within.text)  # the bound itself is in
        refused = send(name, kind(rules.maximum) + (1 if kind is int else max(rules.maximum * 0.01, 0.01)))
        assert refused.status_code == 422, (name, refused.text)
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["body", name] and problem["msg"].startswith(f"{rules.label} must be ")
        assert problem["ctx"]["exclusiveMaximum" if rules.below else "maximum"] == rules.maximum
        assert send(name, kind(rules.minimum)).status_code == (422 if rules.above else 201), name


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"steps": "lots"}, "steps", "Steps must be a whole number; got 'lots'"),
        (
            {"keep_colors": "maybe"},
            "keep_colors",
            "Keep the photo's colours must be true or false; got 'maybe'",
        ),
        ({"kind": "sculpture"}, "kind", "What to make must be one of dream, zoom, video; got 'sculpture'"),
        ({"seed": "-1"}, "seed", "Seed must be at least 0 and less than 2**63; got -1"),
        ({"seed": str(2**63)}, "seed", "Seed must be at least 0 and less than 2**63"),
        (
            {"layers": "blocks.8=1e39"},
            "layers",
            "the weight of 'blocks.8=1e39' must be between -1000 and 1000",
        ),
        ({"layers": "blocks.8=-1e308"}, "layers", "the weight of 'blocks.8=-1e308' must be between"),
        ({"layers": "blocks.8:999"}, "layers", "layer blocks.8 has channels 0..111; got 999"),
        (
            {"kind": "zoom", "zoom": "inf"},
            "zoom",
            "Zoom (% per frame) must be between -50 and 100 %; got inf",
        ),
        ({"stepsize": "0.02"}, "stepsize", "the form has no field 'stepsize' (did you mean step_size?)"),
    ],
)
def test_each_mistake_is_a_422_naming_its_field_in_the_pages_words(
    client: TestClient, photo: bytes, fields: dict, field: str, message: str
) -> None:
    response = post(client, photo, **fields)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", field] and problem["msg"].startswith(message), problem


def test_nothing_is_decoded_or_kept_for_a_refused_form(client: TestClient, photo: bytes, monkeypatch) -> None:
    data_dir = Path(client.app.state.config.data_dir)
    before = sorted(p.name for p in (data_dir / "uploads").iterdir())
    monkeypatch.setattr("reverie.web.app.receive", lambda *a, **k: pytest.fail("an upload was read"))
    decoded = lambda *a, **k: pytest.fail("a picture was decoded")  # noqa: E731
    monkeypatch.setattr("reverie.web.uploads.load_image", decoded)
    assert post(client, photo, steps="51").status_code == 422
    assert post(client, photo, layers="blocks.8=1e39").status_code == 422
    with pytest.raises(pytest.fail.Exception, match="an upload was read"):
        post(client, photo)  # the guard would see a read
    assert sorted(p.name for p in (data_dir / "uploads").iterdir()) == before


def test_caps_below_the_defaults_lower_the_defaults_and_bind_only_the_jobs_own_knobs(
    tmp_path: Path, photo: bytes
) -> None:
    low = {"max_steps": 5, "max_side": 512, "max_frames": 20}
    client = local_client(create_app(WebConfig(tmp_path / "data", device="cpu", **low)))
    page = Inputs()
    page.feed(client.get("/").text)
    assert [page.found[name]["value"] for name in ("steps", "max_side", "frames")] == ["5", "512", "20"]
    assert post(client, photo).status_code == 201  # the form as it comes is within the caps
    assert post(client, photo, frames="30").status_code == 201  # a photo takes no frames
    refused = post(client, photo, kind="zoom", frames="30")
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "frames"]


def test_a_server_refuses_a_kind_it_does_not_make_by_the_field() -> None:
    fields = form_fields(CAPS, kinds=("dream",))
    values = {name: entry.default for name, entry in fields.items()}
    with pytest.raises(SettingsError) as caught:
        check_values({**values, "kind": "zoom"}, fields)
    assert caught.value.field == "kind" and str(caught.value) == "kind must be one of dream; got 'zoom'"


def test_a_still_picture_sent_as_a_video_is_told_to_make_a_zoom(client: TestClient, photo: bytes) -> None:
    response = client.post(
        "/api/jobs", files={"video": ("holiday.png", photo, "image/png")}, data={"kind": "video"}
    )
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "video"]
    assert problem["msg"] == (
        "your video 'holiday.png' is a still picture, not a video: to make a video from a photo, use "
        "'A zoom animation'"
    )
