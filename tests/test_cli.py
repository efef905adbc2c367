"""The ``reverie`` command end to end: real photo, real model, every bad input gets one line and an
exact exit code (1 for bad input, 2 for a malformed command line, 130 for an interrupt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverie.cli import main, plural
from reverie.io.images import load_image, read_metadata, save_image
from reverie.io.video import probe_video
from reverie.models import get_spec
from reverie.recipe import read_settings
from reverie.settings import DreamSettings
from reverie.tasks import NoiseCanvas
from reverie.tensors import resize_picture
from reverie.version import __version__
from reverie.weights import find_weights

#: Small dreams, with progress shown: the path users take by default.
QUICK = ["--steps", "2", "--octaves", "2", "--max-side", "128"]


@pytest.fixture(scope="module")
def dreamed(tmp_path_factory, chelsea_path: Path) -> Path:
    output = tmp_path_factory.mktemp("cli") / "dream.png"
    assert main(["dream", str(chelsea_path), "-o", str(output), *QUICK, "--seed", "7"]) == 0
    return output


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def change_from_photo(path: Path, photo: Path) -> float:
    """Mean absolute difference between a result and the photo at the result's size, 0..1."""
    result = load_image(path)
    return float(np.abs(result.rgb - resize_picture(load_image(photo), result.size).rgb).mean())


def test_dream_writes_a_changed_image_at_the_working_size(dreamed: Path, chelsea_path: Path) -> None:
    assert load_image(dreamed).size == (128, 85)
    assert change_from_photo(dreamed, chelsea_path) > 0.01


def test_result_carries_its_settings(dreamed: Path) -> None:
    assert read_metadata(dreamed)["version"] == __version__
    settings = read_settings(dreamed)
    assert settings.seed == 7 and settings.steps == 2 and settings.max_side == 128
    assert settings.model == "efficientnet_lite0"
    assert settings.layers == "blocks.8,blocks.11"  # the default preset, resolved


def test_settings_from_reproduces_a_result_exactly(dreamed: Path, chelsea_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.png"
    assert main(["dream", str(chelsea_path), "-o", str(again), "--settings-from", str(dreamed), "-q"]) == 0
    assert np.array_equal(load_image(again).rgb, load_image(dreamed).rgb)
    changed = tmp_path / "changed.png"
    args = ["dream", str(chelsea_path), "-o", str(changed), "--settings-from", str(dreamed), "--seed", "8"]
    assert main([*args, "-q"]) == 0
    assert read_settings(changed).seed == 8 and read_settings(changed).steps == 2
    assert not np.array_equal(load_image(changed).rgb, load_image(dreamed).rgb)


def test_settings_from_never_opens_paths_stored_in_the_file(
    chelsea_path: Path, coffee_path: Path, tmp_path: Path, capsys
) -> None:
    crafted = tmp_path / "crafted.png"
    stored = DreamSettings(model="efficientnet_lite0", layers="blocks.8", guide=str(coffee_path),
                           mask=str(coffee_path), steps=1, octaves=1, max_side=64)  # fmt: skip
    save_image(crafted, load_image(chelsea_path), {"version": __version__, "settings": stored.to_dict()})
    output = tmp_path / "out.png"
    assert main(["dream", str(chelsea_path), "-o", str(output), "--settings-from", str(crafted), "-q"]) == 0
    warnings = capsys.readouterr().err.strip().splitlines()
    assert warnings == [
        f"reverie: warning: --settings-from: ignoring the {name} path stored in the file "
        f"({str(coffee_path)!r}); give --{name} IMAGE to use one"
        for name in ("guide", "mask")
    ]
    assert (read_settings(output).guide, read_settings(output).mask) == ("", "")
    guided = tmp_path / "guided.png"
    args = ["dream", str(chelsea_path), "-o", str(guided), "--settings-from", str(crafted), "-q"]
    assert main([*args, "--guide", str(coffee_path)]) == 0  # given on the command line: used
    assert read_settings(guided).guide == coffee_path.name and read_settings(guided).mask == ""  # no path


def test_settings_without_a_model_use_the_default_model(chelsea_path: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.png"
    quick = {"steps": 1, "octaves": 1, "max_side": 64}
    save_image(bare, load_image(chelsea_path), {"version": __version__, "settings": quick})
    output = tmp_path / "out.png"
    assert main(["dream", str(chelsea_path), "-o", str(output), "--settings-from", str(bare), "-q"]) == 0
    assert read_settings(output).model == "efficientnet_lite0"


def test_settings_from_keeps_layers_unless_the_model_or_preset_changes(
    chelsea_path: Path, tmp_path: Path
) -> None:
    first, same, other = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    quick = ["--steps", "1", "--octaves", "1", "--max-side", "64", "-q"]
    assert main(["dream", str(chelsea_path), "-o", str(first), "--layers", "blocks.3:5", *quick]) == 0
    args = ["dream", str(chelsea_path), "--settings-from", str(first), "-q"]
    assert main([*args, "-o", str(same), "--model", "efficientnet_lite0"]) == 0
    assert read_settings(same).layers == "blocks.3:5"
    assert main([*args, "-o", str(other), "--preset", "objects"]) == 0
    assert read_settings(other).layers == "blocks.12,blocks.14"


def test_jpeg_output_and_explicit_layers(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "dream.jpg"
    args = ["dream", str(chelsea_path), "-o", str(output), *QUICK, "--layers", "blocks.6:3+5=2,blocks.9"]
    assert main(args) == 0
    assert read_settings(output).layers == "blocks.6:3+5=2,blocks.9"
    assert change_from_photo(output, chelsea_path) > 0.01


def test_progress_goes_to_stderr_one_line_per_octave(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "p.png"
    args = [
        "dream",
        str(chelsea_path),
        "-o",
        str(output),
        "--steps",
        "1",
        "--octaves",
        "3",
        "--max-side",
        "96",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0
    assert [line.split(" (")[0] for line in err.splitlines()] == ["octave 1/3", "octave 2/3", "octave 3/3"]
    assert out == f"wrote {output} (96x64, " + out.split(", ", 1)[1] and out.endswith(" s)\n")


def test_demo_dreams_the_bundled_photo(tmp_path: Path, chelsea_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["demo", "--steps", "2", "--octaves", "2", "--max-side", "96"], capsys)
    assert code == 0 and out.startswith("wrote reverie-demo.png (96x64")
    assert change_from_photo(tmp_path / "reverie-demo.png", chelsea_path) > 0.01
    assert read_settings(tmp_path / "reverie-demo.png").steps == 2


REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (REPOSITORY / ".git").exists(), reason="not a git checkout")
def test_what_demo_writes_where_it_runs_is_ignored_by_git() -> None:
    from reverie.cli import cli

    demo = cli.commands["demo"]
    default = next(param.default for param in demo.params if param.name == "output")
    for where in (default, f"docs/{default}"):  # the demo writes in whatever folder it runs in
        check = subprocess.run(["git", "check-ignore", "-q", where], cwd=REPOSITORY, check=False)
        assert check.returncode == 0, f"{where} is not in .gitignore"


def test_dream_from_noise(tmp_path: Path) -> None:
    output = tmp_path / "noise.png"
    args = ["dream", "--from-noise", "--size", "96x64", "-o", str(output), "--layers", "blocks.6:5", "-q"]
    assert main([*args, "--steps", "2", "--octaves", "1"]) == 0
    result = load_image(output)
    assert result.size == (96, 64) and read_settings(output).layers == "blocks.6:5"
    canvas = NoiseCanvas(96, 64, seed=0).picture().rgb
    assert np.abs(result.rgb - canvas).mean() > 0.005  # the grey noise grew patterns (8-bit: 0.002)


def test_guide_mask_and_colours_travel_in_the_metadata(
    chelsea_path: Path, coffee_path: Path, tmp_path: Path, monkeypatch
) -> None:
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(tmp_path / "mask.png")
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "out.png"
    args = ["dream", str(chelsea_path), "-o", str(output), "--guide", str(coffee_path), "--mask", "mask.png"]
    assert main([*args, "--keep-colors", "-q", "--steps", "1", "--octaves", "1", "--max-side", "96"]) == 0
    settings = read_settings(output)
    # Files are recorded by name, never by path: a shared result does not tell where they lived (and
    # --settings-from never opens a stored path anyway).
    assert (settings.guide, settings.mask) == ("coffee.png", "mask.png")
    assert str(tmp_path) not in str(read_metadata(output))
    assert settings.keep_colors is True


def test_layers_models_and_classify(coffee_path: Path, capsys) -> None:
    code, out, _ = run_cli(["layers"], capsys)
    assert code == 0 and "blocks.11" in out and "112" in out and "blocks.8,blocks.11 (default)" in out
    code, out, _ = run_cli(["layers", "--model", "inception_v3"], capsys)
    assert code == 0 and "mixed10" in out and "2048" in out
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0 and "efficientnet_lite0" in out and "embedded" in out and "weights download vgg16" in out
    code, out, _ = run_cli(["classify", str(coffee_path), "--top", "2"], capsys)
    assert code == 0 and out.splitlines()[0].endswith("967  espresso") and len(out.splitlines()) == 2


def test_layers_and_models_build_no_network(capsys, monkeypatch) -> None:
    monkeypatch.setattr("reverie.models.registry.ModelSpec.build", lambda self: pytest.fail("built"))
    for model in ("efficientnet_lite0", "googlenet", "vgg19"):
        assert run_cli(["layers", "--model", model], capsys)[0] == 0
    assert run_cli(["models"], capsys)[0] == 0


def test_sheet_has_the_photo_and_one_panel_per_term(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "sheet.png"
    terms = "blocks.3,blocks.9,class:tabby"
    args = ["sheet", str(chelsea_path), "-o", str(output), "--layers", terms, "--columns", "2"]
    code, out, _ = run_cli([*args, "--steps", "1", "--octaves", "1", "--max-side", "90"], capsys)
    assert code == 0 and out == f"wrote {output} (3 layers: blocks.3, blocks.9, class:tabby)\n"
    sheet = load_image(output)
    assert sheet.size == (2 * 90, 2 * 60)  # 4 panels of 90x60 in 2 columns
    assert read_settings(output).layers == terms
    photo = resize_picture(load_image(chelsea_path), (90, 60)).rgb
    panels = [
        sheet.rgb[row * 60 + 20 : (row + 1) * 60, col * 90 : (col + 1) * 90]
        for row in (0, 1)
        for col in (0, 1)
    ]
    assert np.abs(panels[0] - photo[20:]).max() <= 1 / 255 + 1e-6  # the photo, unchanged
    for panel in panels[1:]:
        assert np.abs(panel - photo[20:]).mean() > 0.005  # each dreamed differently
    assert np.abs(panels[1] - panels[2]).mean() > 0.005


def lite1_weights() -> str:
    """A real weights file of another architecture."""
    return str(find_weights(get_spec("efficientnet_lite1")))


def bad_inputs(tmp: Path, photo: Path) -> list[tuple[list[str], int, str]]:
    """(arguments, exit code, message fragment) for every kind of bad input, every command."""
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "text.png").write_text("not an image")
    (tmp / "half.png").write_bytes(photo.read_bytes()[:20000])
    (tmp / "folder").mkdir()
    (tmp / "bad.pth").write_text("nonsense")
    (tmp / "taken").write_text("a file where a folder should be")
    out = str(tmp / "out.png")
    return [
        (["dream", str(tmp / "missing.jpg"), "-o", out], 1, "not found"),
        (["dream", str(tmp / "empty.png"), "-o", out], 1, "empty"),
        (["dream", str(tmp / "text.png"), "-o", out], 1, "not an image"),
        (["dream", str(tmp / "half.png"), "-o", out], 1, "truncated"),
        (["dream", str(tmp / "folder"), "-o", out], 1, "folder"),
        (["dream", str(photo), "-o", str(tmp / "nodir" / "x.png")], 1, "does not exist"),
        (["dream", str(photo), "-o", str(tmp / "folder")], 1, "folder"),
        (["dream", str(photo), "-o", str(tmp / "x.doc")], 1, "not a supported image format"),
        (["dream", str(photo), "-o", out, "--model", "alexnet"], 1, "valid models: efficientnet_lite0"),
        (["dream", str(photo), "-o", out, "--layers", "mixed3"], 1, "valid layers: stem"),
        (["dream", str(photo), "-o", out, "--layers", "blocks.8:500"], 1, "channels 0..111"),
        (["dream", str(photo), "-o", out, "--preset", "fancy"], 1, "presets: edges"),
        (["dream", str(photo), "-o", out, "--steps", "0"], 1, "--steps must be between 1 and 10000; got 0"),
        (["dream", str(photo), "-o", out, "--octave-scale", "0.5"], 1, "--octave-scale must be more than 1"),
        (
            ["dream", str(photo), "-o", out, "--step-size", "nan"],
            1,
            "--step-size must be more than 0 and at most 1; got nan",
        ),
        (
            ["dream", str(photo), "-o", out, "--layers", "blocks.8=1e39"],
            1,
            "--layers: the weight of 'blocks.8=1e39'",
        ),
        (
            ["dream", str(photo), "-o", out, "--layers", "blocks.8=-1e308"],
            1,
            "must be between -1000 and 1000",
        ),
        (
            ["dream", str(photo), "-o", out, "--tv-weight", "1e39"],
            1,
            "--tv-weight must be between 0 and 1000",
        ),
        (["dream", str(photo), "-o", out, "--steps", "many"], 2, "not a valid integer"),
        (["dream", str(photo), "-o", out, "--max-pixels", "1000"], 1, "--max-pixels"),
        (["dream", str(photo), "-o", out, "--max-pixels", "0"], 1, "--max-pixels must be between 1 and"),
        (["dream", str(photo), "-o", out, "--device", "tpu"], 1, "unknown device"),
        (["dream", str(photo), "-o", out, "--device", "cuda:x"], 1, "device"),
        (["dream", str(photo), "-o", out, "--model", "vgg16"], 1, "vgg16-397923af.pth"),
        (["dream", str(photo), "-o", out, "--weights", str(tmp / "bad.pth")], 1, "not a readable PyTorch"),
        (
            ["dream", str(photo), "-o", out, "--weights", lite1_weights()],
            1,
            "does not fit efficientnet_lite0",
        ),
        (["dream", str(photo), "-o", out, "--settings-from", str(photo)], 1, "holds no Reverie settings"),
        (["dream", str(photo), "-o", str(photo)], 1, "overwrite the input"),
        (["dream", str(photo), "--from-noise", "-o", out], 2, "either an INPUT"),
        (["dream", "--from-noise", "--size", "big", "-o", out], 2, "--size"),
        (["dream", "--from-noise", "--size", "²x2", "-o", out], 2, "--size"),
        (["dream", "--from-noise", "--size", "0x5", "-o", out], 1, "--size must be between 1 and 16384 px"),
        (["demo", "-o", str(tmp / "nodir" / "x.png")], 1, "does not exist"),
        (["demo", "-o", out, "--layers", "mixed3"], 1, "unknown layer"),
        (["sheet", str(photo), "-o", out, "--layers", "blocks.3,mixed3"], 1, "unknown layer 'mixed3'"),
        (["sheet", str(photo), "-o", out, "--columns", "0"], 1, "--columns must be between 1 and 20"),
        (["layers", "--model", "alexnet"], 1, "unknown model 'alexnet'"),
        (["classify", str(tmp / "text.png")], 1, "not an image"),
        (["classify", str(photo), "--model", "vgg16"], 1, "vgg16-397923af.pth"),
        (["zoom", str(photo), "-o", str(tmp / "z.png")], 1, "not an animation format"),
        (
            ["zoom", str(photo), "-o", str(tmp / "z.gif"), "--frames", "0"],
            1,
            "--frames must be between 1 and 100000",
        ),
        (
            ["zoom", str(photo), "-o", str(tmp / "z.gif"), "--zoom", "400"],
            1,
            "--zoom must be between -50 and 100 %",
        ),
        (
            ["zoom", str(photo), "-o", str(tmp / "z.gif"), "--frames", "5000"],
            1,
            "write .mp4 or .webm instead",
        ),
        (["zoom", str(tmp / "text.png"), "-o", str(tmp / "z.gif")], 1, "not an image"),
        (["video", str(tmp / "missing.mp4"), "-o", str(tmp / "v.mp4")], 1, "video not found"),
        (["video", str(tmp / "text.png"), "-o", str(tmp / "v.mp4")], 1, "not a readable video"),
        (["video", str(tmp / "missing.mp4"), "-o", str(tmp / "v.gif")], 1, "use one of the extensions .mp4"),
        (["video", str(tmp / "missing.mp4"), "-o", str(tmp / "v.mp4"), "--blend", "1.5"], 1, "--blend"),
        (["serve", "--device", "tpu"], 1, "unknown device"),
        (["serve", "--data-dir", str(tmp / "taken" / "data")], 1, "cannot use data folder"),
        (["serve", "--port", "0"], 2, "--port"),
        (["models", "extra"], 2, "unexpected extra argument"),
        (["paint"], 2, "No such command 'paint'"),
    ]


def test_every_bad_input_gets_one_line_and_its_exit_code(
    tmp_path: Path, chelsea_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("REVERIE_WEIGHTS_DIR", raising=False)
    photo = tmp_path / "photo.png"
    photo.write_bytes(chelsea_path.read_bytes())
    before = photo.read_bytes()
    for args, exit_code, fragment in bad_inputs(tmp_path, photo):
        code, _out, err = run_cli(args, capsys)
        assert code == exit_code, (args, code, err)
        assert err.startswith("reverie: error: ") and err.count("\n") == 1, (args, err)
        assert fragment in err, (args, err)
        assert not (tmp_path / "out.png").exists(), args
    assert photo.read_bytes() == before


def test_an_interrupt_exits_130_and_leaves_no_output(chelsea_path: Path, tmp_path: Path, capsys) -> None:
    from reverie.dreamer import PreparedDream

    output = tmp_path / "out.png"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PreparedDream, "dream", interrupted)
        code, _, err = run_cli(["dream", str(chelsea_path), "-o", str(output), *QUICK], capsys)
    assert code == 130 and err.strip() == "reverie: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    output.write_bytes(b"old")
    assert main(["dream", str(chelsea_path), "-o", str(output), *QUICK]) == 0
    assert load_image(output).width == 128


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "reverie.cli", "dream", str(tmp_path / "none.png"), "-o", "o.png"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("reverie: error: image not found") and "Traceback" not in result.stderr
    help_run = subprocess.run(
        [sys.executable, "-m", "reverie.cli"], capture_output=True, text=True, check=False
    )
    assert help_run.returncode == 0 and "dream" in help_run.stdout and "zoom" in help_run.stdout


def test_report_lines_count_in_good_english(tmp_path: Path, chelsea_path: Path, capsys) -> None:
    assert [plural("photo", count) for count in (0, 1, 2)] == ["photos", "photo", "photos"]
    zoom = tmp_path / "one.gif"
    code, out, _ = run_cli(["zoom", str(chelsea_path), "-o", str(zoom), "--frames", "1", *QUICK], capsys)
    assert code == 0 and out.startswith(f"wrote {zoom} (1 frame, "), out
    sheet = tmp_path / "sheet.png"
    args = ["sheet", str(chelsea_path), "-o", str(sheet), "--layers", "blocks.9", "--steps", "1"]
    code, out, _ = run_cli([*args, "--octaves", "1", "--max-side", "90"], capsys)
    assert code == 0 and out == f"wrote {sheet} (1 layer: blocks.9)\n"


def test_zoom_and_video_commands(tmp_path: Path, chelsea_path: Path, pan_video: Path, capsys) -> None:
    zoom = tmp_path / "zoom.webp"
    code, out, err = run_cli(["zoom", str(chelsea_path), "-o", str(zoom), "--frames", "3", *QUICK], capsys)
    assert code == 0 and out.startswith(f"wrote {zoom} (3 frames") and "frame 3/3" in err
    with Image.open(zoom) as image:
        assert (image.n_frames, image.size) == (3, (128, 85))
        image.seek(2)
        last = np.asarray(image.convert("RGB"), np.float32) / 255
    first_photo = resize_picture(load_image(chelsea_path), (128, 85)).rgb
    assert np.abs(last - first_photo).mean() > 0.02  # zoomed and dreamed
    video = tmp_path / "dream.mp4"
    code, out, err = run_cli(["video", str(pan_video), "-o", str(video), *QUICK, "--quiet"], capsys)
    assert code == 0 and not out and not err  # --quiet: nothing at all
    info = probe_video(video)
    assert (info.frames, info.width, info.height, info.has_audio) == (10, 96, 64, True)
    code, _, err = run_cli(["video", str(pan_video), "-o", str(pan_video), *QUICK], capsys)
    assert code == 1 and "overwrite the input" in err
    code, out, err = run_cli(["video", str(chelsea_path), "-o", str(tmp_path / "still.mp4"), *QUICK], capsys)
    assert (code, out) == (1, "") and not (tmp_path / "still.mp4").exists()
    assert err == (
        f"reverie: error: {chelsea_path} is a still picture, not a video: "
        "to make a video from a photo, use reverie zoom\n"
    )


def test_a_dream_whose_gradient_stops_being_finite_saves_nothing(
    chelsea_path: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from reverie import render

    def poisoned(*args, **kwargs):
        gradient, score = real_gradient(*args, **kwargs)
        return gradient * float("inf"), score

    real_gradient = render.region_gradient
    monkeypatch.setattr(render, "region_gradient", poisoned)
    out = tmp_path / "never.png"
    code, _, err = run_cli(
        ["dream", str(chelsea_path), "-o", str(out), "--steps", "1", "--max-side", "64"], capsys
    )
    assert (
        code == 1
        and err == "reverie: error: the dream's gradient stopped being a finite number; nothing was saved\n"
    )
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bug", [RuntimeError, ValueError, KeyError, OverflowError])
def test_a_bug_is_one_line_that_says_it_is_one(
    bug: type[Exception], chelsea_path: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    def broken(*args, **kwargs):
        raise bug("shapes do not match\nand a long trace")

    monkeypatch.setattr("reverie.render.region_gradient", broken)
    args = ["dream", str(chelsea_path), "-o", str(tmp_path / "x.png"), "--steps", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and err.startswith(f"reverie: internal error: {bug.__name__}: ") and err.count("\n") == 1
    assert err.endswith(" (please report it)\n") and "Traceback" not in err


def test_a_number_too_large_for_any_float_is_one_line(chelsea_path: Path, capsys) -> None:
    code, _, err = run_cli(["dream", str(chelsea_path), "-o", "never.png", "--seed", "9" * 400], capsys)
    assert code == 1 and err.startswith(
        "reverie: error: --seed must be at least 0 and less than 2**63; got 99"
    )


def test_running_out_of_memory_names_the_options_that_help(
    chelsea_path: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import torch

    def too_big(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("reverie.render.region_gradient", too_big)
    code, _, err = run_cli(
        ["dream", str(chelsea_path), "-o", str(tmp_path / "x.png"), "--steps", "1"], capsys
    )
    assert (code, err) == (1, "reverie: error: out of memory: try a smaller --tile-size or --max-side\n")
    assert list(tmp_path.iterdir()) == []
