"""What every answer carries (a Content-Security-Policy without inline script, no sniffing, no
framing, no referrer), HEAD wherever GET, and a browser that keeps the studio out of other sites'
frames while the page, the token page and /docs still work under their policies."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount
from web_client import local_client
from web_server import Server

from reverie.web import WebConfig, create_app
from reverie.web.headers import source_hash
from reverie.web.jobs import DONE

QUICK = {"steps": "1", "octaves": "1", "max_side": "96"}
TOKEN = "a-long-test-token"
#: Values for the path parameters of the GET routes (any other gets a value no route knows).
PARAMETERS = {"model": "efficientnet_lite0", "preset": "edges"}


def policy_of(response) -> dict[str, str]:
    """The Content-Security-Policy's directives: name -> sources."""
    header = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def assert_protected(response, what: str) -> dict[str, str]:
    assert response.headers["x-content-type-options"] == "nosniff", what
    assert response.headers["x-frame-options"] == "DENY", what
    assert response.headers["referrer-policy"] == "no-referrer", what
    directives = policy_of(response)
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'", what
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'", what
    assert "unsafe-inline" not in response.headers["content-security-policy"], what
    assert "unsafe-eval" not in response.headers["content-security-policy"], what
    return directives


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A client of an app whose workers do not run (its jobs stay as the test puts them)."""
    yield local_client(create_app(WebConfig(tmp_path / "data", device="cpu")))


def finished_job(client: TestClient, chelsea_path: Path) -> dict:
    """A job made done by hand, with a result file: everything a job's routes can show."""
    files = {"image": ("cat.png", chelsea_path.read_bytes(), "image/png")}
    job = client.post("/api/jobs", files=files, data=QUICK).json()
    store = client.app.state.store
    stored = store.get(job["id"])
    store.path(stored, "result").write_bytes(chelsea_path.read_bytes())
    store.path(stored, "preview").write_bytes(b"\xff\xd8 a preview")
    store.report(job["id"], 1.0, "", has_preview=True)
    store.finish(job["id"], DONE)
    return client.get(f"/api/jobs/{job['id']}").json()


def test_every_kind_of_answer_carries_the_headers(client: TestClient, chelsea_path: Path) -> None:
    job = finished_job(client, chelsea_path)
    answers = {
        "the page": client.get("/"),
        "a picture": client.get(job["source_url"]),
        "a download": client.get(job["result_url"]),
        "a JSON answer": client.get("/api/server"),
        "an error": client.get("/api/jobs/no-such-job"),
        "a mistake in a field": client.post("/api/jobs", data={"steps": "lots"}),
        "a static file": client.get("/static/app.js"),
        "a refusal of the guard": client.get("/", headers={"Host": "rebind.example"}),
        "the API docs": client.get("/docs"),
    }
    assert [answer.status_code for answer in answers.values()] == [
        200,
        200,
        200,
        200,
        404,
        422,
        200,
        400,
        200,
    ]
    assert answers["a download"].headers["content-disposition"].startswith("attachment")
    for what, answer in answers.items():
        directives = assert_protected(answer, what)
        if what != "the API docs":
            assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", what
    docs = answers["the API docs"]
    (start_up,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)  # Swagger UI's only
    assert policy_of(docs)["script-src"] == f"'self' {source_hash(start_up)}"
    assert policy_of(answers["the page"])["img-src"] == "'self' blob:"  # previews of a file being chosen


def test_the_page_has_no_inline_script_style_or_handler(client: TestClient) -> None:
    page = client.get("/").text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page and not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page) and "javascript:" not in page


def test_the_token_page_allows_only_its_own_style(tmp_path: Path) -> None:
    client = local_client(create_app(WebConfig(tmp_path / "data", device="cpu", token=TOKEN)))
    page = client.get("/")
    assert page.status_code == 401 and "access token" in page.text
    directives = assert_protected(page, "the token page")
    (style,) = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert directives["style-src"] == source_hash(style) and directives["script-src"] == "'self'"
    assert not re.search(r"\sstyle=", page.text)


def get_paths(app, job_id: str) -> list[str]:
    """A path of every GET route of ``app``, its parameters filled in, and a file of each mount."""
    values = {**PARAMETERS, "job_id": job_id}
    paths = []
    for route in app.routes:
        if isinstance(route, Mount):
            paths.append(f"{route.path}/{'app.js' if route.path == '/static' else 'swagger-ui.css'}")
        elif "GET" in (getattr(route, "methods", None) or ()):
            paths.append(
                re.sub(r"{(\w+)(?::\w+)?}", lambda found: values.get(found[1], "unknown"), route.path)
            )
    return paths


def test_head_answers_wherever_get_does(client: TestClient, chelsea_path: Path) -> None:
    job = finished_job(client, chelsea_path)
    paths = get_paths(client.app, job["id"])
    assert {"/", "/api/server", f"/api/jobs/{job['id']}/result", "/static/app.js", "/docs"} <= set(paths)
    for path in paths:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code != 405, (path, head.status_code, got.status_code)
        assert head.content == b"", path
        for name in ("content-type", "content-length", "content-security-policy", "x-content-type-options"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)


# ----------------------------------------------------------------------------- in a browser


class OtherSite:
    """Another origin (this machine, another port): a page that frames the studio beside a page of
    its own, served by Python's tiny HTTP server."""

    def __init__(self, studio_url: str) -> None:
        pages = {
            "/": f'<!doctype html><iframe id="studio" src="{studio_url}/"></iframe>'
            '<iframe id="own" src="/own.html"></iframe>',
            "/own.html": '<!doctype html><p id="own-text">a page of this site</p>',
        }

        class Pages(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_another_site_cannot_show_the_studio_in_a_frame(server: Server, browser) -> None:
    from playwright.sync_api import expect

    other = OtherSite(server.url)
    try:
        page = browser.new_page()
        page.goto(other.url)
        expect(page.frame_locator("#own").locator("#own-text")).to_have_text("a page of this site")
        frame = page.locator("#studio").element_handle().content_frame()
        page.wait_for_function("() => document.querySelector('#studio').contentWindow !== null")
        frame.wait_for_load_state("load")
        assert not frame.url.startswith(server.url), f"the studio loaded in the frame: {frame.url}"
        assert frame.locator("#model").count() == 0 and frame.locator("#submit").count() == 0
    finally:
        other.close()


def policy_violations(page) -> list[str]:
    """A list that fills with the page's Content-Security-Policy violations as they happen."""
    found: list[str] = []
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', event => console.error("
        "'Content Security Policy: ' + event.violatedDirective + ' ' + event.blockedURI))"
    )
    page.on(
        "console", lambda message: "Content Security Policy" in message.text and found.append(message.text)
    )
    return found


def test_the_page_and_the_api_docs_work_under_their_policies(
    server: Server, browser, chelsea_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    violations = policy_violations(page)
    page.goto(server.url)
    expect(page.locator("#model")).to_have_value("efficientnet_lite0")
    page.set_input_files("#image-input", str(chelsea_path))
    expect(page.locator("#upload-preview")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#upload-preview').naturalWidth > 0")  # blob:
    page.goto(f"{server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()  # Swagger UI started and read the schema
    expect(page.locator(".opblock-summary-path", has_text="/api/server")).to_be_visible()
    assert violations == []


@pytest.mark.slow
def test_the_token_page_keeps_its_look_under_its_policy(tmp_path: Path, browser) -> None:
    guarded = Server(tmp_path / "data", "--token", TOKEN)
    try:
        page = browser.new_page()
        violations = policy_violations(page)
        page.goto(guarded.url)
        assert "access token" in page.locator("h1").inner_text()
        assert page.evaluate("getComputedStyle(document.body).maxWidth") == "576px"  # its style applied
        assert violations == []
    finally:
        guarded.kill()
