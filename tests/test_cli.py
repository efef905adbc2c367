"""The ``reverie`` command end to end: real photo, real model, every bad input gets one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverie.cli import main
from reverie.dreamer import read_settings
from reverie.imaging import load_image, read_metadata
from reverie.models import get_spec
from reverie.weights import find_weights

QUICK = ["--steps", "2", "--octaves", "2", "--max-side", "128", "--quiet"]


@pytest.fixture(scope="module")
def dreamed(tmp_path_factory, chelsea_path: Path) -> Path:
    output = tmp_path_factory.mktemp("cli") / "dream.png"
    assert main(["dream", str(chelsea_path), "-o", str(output), *QUICK, "--seed", "7"]) == 0
    return output


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dream_writes_a_changed_image_at_the_working_size(dreamed: Path, chelsea_path: Path) -> None:
    result = load_image(dreamed)
    assert (result.width, result.height) == (128, 85)
    original = np.asarray(Image.open(chelsea_path).convert("RGB").resize((128, 85)), dtype=np.float32) / 255
    assert np.abs(result.rgb - original).mean() > 0.01


def test_result_carries_its_settings(dreamed: Path) -> None:
    payload = json.loads(read_metadata(dreamed)["reverie"])
    assert payload["version"] == "0.1.0"
    settings = read_settings(dreamed)
    assert settings.seed == 7 and settings.steps == 2 and settings.max_side == 128
    assert settings.layers == "blocks.8,blocks.11"  # the default preset, resolved


def test_settings_from_reproduces_a_result_exactly(dreamed: Path, chelsea_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.png"
    assert main(["dream", str(chelsea_path), "-o", str(again), "--settings-from", str(dreamed), "-q"]) == 0
    assert np.array_equal(load_image(again).rgb, load_image(dreamed).rgb)
    changed = tmp_path / "changed.png"
    args = [
        "dream",
        str(chelsea_path),
        "-o",
        str(changed),
        "--settings-from",
        str(dreamed),
        "--seed",
        "8",
        "-q",
    ]
    assert main(args) == 0
    assert read_settings(changed).seed == 8 and read_settings(changed).steps == 2


def test_jpeg_output_and_explicit_layers(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "dream.jpg"
    args = ["dream", str(chelsea_path), "-o", str(output), *QUICK, "--layers", "blocks.6:3+5=2,blocks.9"]
    assert main(args) == 0
    assert read_settings(output).layers == "blocks.6:3+5=2,blocks.9"


def test_progress_goes_to_stderr_one_line_per_octave(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "p.png"
    code, out, err = run_cli(
        ["dream", str(chelsea_path), "-o", str(output), "--steps", "1", "--octaves", "3", "--max-side", "96"],
        capsys,
    )
    assert code == 0
    assert [line.split(" (")[0] for line in err.splitlines()] == ["octave 1/3", "octave 2/3", "octave 3/3"]
    assert out.startswith(f"wrote {output}")


def test_demo_dreams_the_bundled_photo(tmp_path: Path, capsys) -> None:
    output = tmp_path / "demo.png"
    code, out, _ = run_cli(
        ["demo", "-o", str(output), "--steps", "1", "--octaves", "1", "--max-side", "64"], capsys
    )
    assert code == 0 and output.is_file() and "wrote" in out


def test_layers_models_and_classify(coffee_path: Path, capsys) -> None:
    code, out, _ = run_cli(["layers"], capsys)
    assert code == 0 and "blocks.11" in out and "112" in out and "patterns" in out
    code, out, _ = run_cli(["layers", "--model", "inception_v3"], capsys)
    assert code == 0 and "mixed10" in out and "2048" in out
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0 and "efficientnet_lite0" in out and "ready" in out and "vgg16-397923af.pth" in out
    code, out, _ = run_cli(["classify", str(coffee_path), "--top", "2"], capsys)
    assert code == 0 and out.splitlines()[0].endswith("967  espresso")


def lite1_weights() -> str:
    """A real weights file of another architecture."""
    return str(find_weights(get_spec("efficientnet_lite1")))


def bad_inputs(tmp: Path, photo: Path) -> list[tuple[list[str], str]]:
    """(arguments, expected message fragment) for every kind of bad input."""
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "text.png").write_text("not an image")
    (tmp / "half.png").write_bytes(photo.read_bytes()[:20000])
    (tmp / "folder").mkdir()
    (tmp / "bad.pth").write_text("nonsense")
    out = str(tmp / "out.png")
    return [
        (["dream", str(tmp / "missing.jpg"), "-o", out], "not found"),
        (["dream", str(tmp / "empty.png"), "-o", out], "empty"),
        (["dream", str(tmp / "text.png"), "-o", out], "not an image"),
        (["dream", str(tmp / "half.png"), "-o", out], "truncated"),
        (["dream", str(tmp / "folder"), "-o", out], "folder"),
        (["dream", str(photo), "-o", str(tmp / "nodir" / "x.png")], "does not exist"),
        (["dream", str(photo), "-o", str(tmp / "folder")], "folder"),
        (["dream", str(photo), "-o", str(tmp / "x.doc")], "not a supported image format"),
        (["dream", str(photo), "-o", out, "--model", "alexnet"], "valid models: efficientnet_lite0"),
        (["dream", str(photo), "-o", out, "--layers", "mixed3"], "valid layers: stem"),
        (["dream", str(photo), "-o", out, "--layers", "blocks.8:500"], "channels 0..111"),
        (["dream", str(photo), "-o", out, "--preset", "fancy"], "presets: edges"),
        (["dream", str(photo), "-o", out, "--steps", "0"], "steps"),
        (["dream", str(photo), "-o", out, "--octave-scale", "0.5"], "octave-scale"),
        (["dream", str(photo), "-o", out, "--step-size", "nan"], "step-size"),
        (["dream", str(photo), "-o", out, "--steps", "many"], "not a valid integer"),
        (["dream", str(photo), "-o", out, "--max-pixels", "1000"], "--max-pixels"),
        (["dream", str(photo), "-o", out, "--device", "tpu"], "unknown device"),
        (["dream", str(photo), "-o", out, "--model", "vgg16"], "vgg16-397923af.pth"),
        (["dream", str(photo), "-o", out, "--weights", str(tmp / "bad.pth")], "not a readable PyTorch"),
        (["dream", str(photo), "-o", out, "--weights", lite1_weights()], "does not fit efficientnet_lite0"),
        (["dream", str(photo), "-o", out, "--settings-from", str(photo)], "holds no Reverie settings"),
        (["dream", str(photo), "-o", str(photo)], "overwrite the input"),
        (["classify", str(tmp / "text.png")], "not an image"),
        (["zoom", str(photo), "-o", str(tmp / "z.png")], "not an animation format"),
        (["zoom", str(photo), "-o", str(tmp / "z.gif"), "--frames", "0"], "--frames"),
        (["zoom", str(photo), "-o", str(tmp / "z.gif"), "--zoom", "400"], "--zoom"),
        (["zoom", str(photo), "-o", str(tmp / "z.gif"), "--frames", "5000"], "write .mp4 or .webm instead"),
        (["zoom", str(tmp / "text.png"), "-o", str(tmp / "z.gif")], "not an image"),
        (["video", str(tmp / "missing.mp4"), "-o", str(tmp / "v.mp4")], "video not found"),
        (["video", str(tmp / "text.png"), "-o", str(tmp / "v.mp4")], "not a readable video"),
        (["video", str(tmp / "missing.mp4"), "-o", str(tmp / "v.gif")], "use one of the extensions .mp4"),
        (["video", str(tmp / "missing.mp4"), "-o", str(tmp / "v.mp4"), "--blend", "1.5"], "--blend"),
    ]


def test_every_bad_input_gets_one_line_and_a_nonzero_exit(
    tmp_path: Path, chelsea_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("REVERIE_WEIGHTS_DIR", raising=False)
    photo = tmp_path / "photo.png"
    photo.write_bytes(chelsea_path.read_bytes())
    before = photo.read_bytes()
    for args, fragment in bad_inputs(tmp_path, photo):
        code, _out, err = run_cli(args, capsys)
        assert code != 0, args
        assert err.startswith("reverie: error: ") and err.count("\n") == 1, (args, err)
        assert fragment in err, (args, err)
        assert not (tmp_path / "out.png").exists(), args
    assert photo.read_bytes() == before


def test_an_existing_output_is_replaced(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    output.write_bytes(b"old")
    assert main(["dream", str(chelsea_path), "-o", str(output), *QUICK]) == 0
    assert load_image(output).width == 128


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reverie.cli",
            "dream",
            str(tmp_path / "none.png"),
            "-o",
            str(tmp_path / "o.png"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("reverie: error:") and "Traceback" not in result.stderr
    help_run = subprocess.run(
        [sys.executable, "-m", "reverie.cli"], capture_output=True, text=True, check=False
    )
    assert help_run.returncode == 0 and "dream" in help_run.stdout


def test_zoom_and_video_commands(tmp_path: Path, chelsea_path: Path, pan_video: Path, capsys) -> None:
    zoom = tmp_path / "zoom.webp"
    code, out, err = run_cli(
        ["zoom", str(chelsea_path), "-o", str(zoom), "--frames", "3", *QUICK[:-1]], capsys
    )
    assert code == 0 and out.startswith(f"wrote {zoom} (3 frames") and "frame 3/3" in err
    with Image.open(zoom) as image:
        assert image.n_frames == 3
    video = tmp_path / "dream.mp4"
    code, out, _ = run_cli(["video", str(pan_video), "-o", str(video), *QUICK], capsys)
    assert code == 0 and not out and video.stat().st_size > 0
    code, _, err = run_cli(["video", str(pan_video), "-o", str(pan_video), *QUICK], capsys)
    assert code == 1 and "overwrite the input" in err
