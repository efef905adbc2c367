"""Batches in this process: which photos, where their dreams go, the manifest, resuming, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverie import cluster, devices
from reverie.batch import Batch, Manifest, Record, collect_items
from reverie.cli import main
from reverie.cluster import LOCAL_WORKER_MEMORY, LocalEngine, available_memory, local_workers
from reverie.errors import SettingsError
from reverie.io.images import load_image
from reverie.recipe import read_settings
from reverie.settings import DreamSettings
from reverie.tasks import check_engine

QUICK = ["--steps", "2", "--octaves", "2", "--max-side", "80"]


@pytest.fixture
def photos(tmp_path: Path, chelsea_path: Path, coffee_path: Path) -> Path:
    """photos/cat.png, photos/more/coffee.jpg, photos/notes.txt (not a photo)."""
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    (folder / "cat.png").write_bytes(chelsea_path.read_bytes())
    load_image(coffee_path)  # a real photo, saved as JPEG below
    from reverie.io.images import save_image

    save_image(folder / "more" / "coffee.jpg", load_image(coffee_path))
    (folder / "notes.txt").write_text("not a photo")
    return folder


def relatives(items) -> list[str]:
    return sorted(str(item.relative) for item in items)


def test_inputs_are_files_folders_and_globs_keeping_their_layout(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert relatives(collect_items([photos], out, False, ".png")) == ["cat.png"]
    assert relatives(collect_items([photos], out, True, ".webp")) == ["cat.webp", "more/coffee.webp"]
    assert relatives(collect_items([str(photos / "**" / "*.jpg")], out, True, ".png")) == ["more/coffee.png"]
    assert relatives(collect_items([photos / "cat.png", photos / "cat.png"], out, False, ".png")) == [
        "cat.png"
    ]
    missing = collect_items([tmp_path / "gone.jpg"], out, False, ".png")
    assert relatives(missing) == ["gone.png"]  # it will fail alone, in the manifest


def test_colliding_outputs_and_empty_inputs_are_refused(photos: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "cat.png").write_bytes((photos / "cat.png").read_bytes())
    with pytest.raises(SettingsError, match="would both be written"):
        collect_items([photos / "cat.png", other / "cat.png"], tmp_path / "out", False, ".png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match="no photos found"):
        collect_items([tmp_path / "empty"], tmp_path / "out", True, ".png")


def test_an_output_folder_inside_the_inputs_is_never_read_back(photos: Path) -> None:
    out = photos / "dreams"
    out.mkdir()
    (out / "cat.png").write_bytes((photos / "cat.png").read_bytes())
    assert relatives(collect_items([photos], out, True, ".png")) == ["cat.png", "more/coffee.png"]


def test_the_manifest_keeps_the_last_whole_line_per_output(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    manifest.append(Record("a.jpg", "a.png", "f1", "failed", "boom", 0.1))
    manifest.append(Record("a.jpg", "a.png", "f1", "done", "", 2.0))
    with open(manifest.path, "a") as stream:
        stream.write('{"input": "b.jpg", "outp')  # a run killed halfway through a line
    assert manifest.records() == {"a.png": Record("a.jpg", "a.png", "f1", "done", "", 2.0)}


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_batch_dreams_resumes_and_redoes_only_what_changed(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(["batch", str(photos), "--recursive", "-o", str(out), *QUICK], capsys)
    assert code == 0 and stdout.startswith(f"dreamed 2 photos into {out}")
    assert [line.split("]")[0] for line in err.splitlines()] == ["[1/2", "[2/2"]
    named = sorted(line.split("] ")[1].split(": ")[0] for line in err.splitlines())
    assert named == ["cat.png", "more/coffee.png"]  # by their place in the output folder
    cat, coffee = load_image(out / "cat.png"), load_image(out / "more" / "coffee.png")
    assert cat.size == (80, 53) and coffee.size == (80, 53)
    assert read_settings(out / "cat.png").steps == 2
    records = Manifest(out).records()
    assert {r.status for r in records.values()} == {"done"} and set(records) == {"cat.png", "more/coffee.png"}
    first_bytes = (out / "cat.png").read_bytes()
    code, stdout, err = run_cli(["batch", str(photos), "--recursive", "-o", str(out), *QUICK], capsys)
    assert code == 0 and "dreamed 0 photos" in stdout and "(2 from an earlier run)" in stdout and not err
    assert (out / "cat.png").read_bytes() == first_bytes  # nothing was dreamed again
    code, stdout, _ = run_cli(
        ["batch", str(photos), "--recursive", "-o", str(out), *QUICK, "--seed", "4"], capsys
    )
    assert code == 0 and "dreamed 2 photos" in stdout  # other settings: other fingerprints
    (out / "cat.png").unlink()
    code, stdout, _ = run_cli(
        ["batch", str(photos), "--recursive", "-o", str(out), *QUICK, "--seed", "4"], capsys
    )
    assert "dreamed 1 photo into" in stdout and "(1 from an earlier run)" in stdout  # a lost output is redone


def test_bf16_on_a_cpu_without_it_is_one_warning_for_the_whole_batch(
    photos: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(devices, "_warned_slow_bf16", set())
    args = ["batch", str(photos), "--recursive", "-o", str(tmp_path / "out"), *QUICK, "--precision", "bf16"]
    code, _, err = run_cli([*args, "--device", "cpu"], capsys)
    assert code == 0
    assert [line for line in err.splitlines() if "warning" in line] == [
        "reverie: warning: bf16 precision is slower on this CPU, which has no native bfloat16 "
        "(AVX512-BF16 or AMX) and emulates it: fp32 is faster here"
    ]


def test_a_bad_photo_fails_alone_and_the_batch_says_so(photos: Path, tmp_path: Path, capsys) -> None:
    (photos / "broken.png").write_bytes((photos / "cat.png").read_bytes()[:3000])
    out = tmp_path / "out"
    code, _, err = run_cli(["batch", str(photos), "-o", str(out), "--format", "jpg", *QUICK], capsys)
    assert code == 1
    assert err.splitlines()[-1] == f"reverie: error: 1 done, 1 failed: see {out / 'manifest.jsonl'}"
    records = Manifest(out).records()
    assert records["cat.jpg"].status == "done" and load_image(out / "cat.jpg").size == (80, 53)
    assert records["broken.jpg"].status == "failed" and "truncated" in records["broken.jpg"].error.lower()
    assert sorted(p.name for p in out.iterdir()) == ["cat.jpg", "manifest.jsonl"]


def test_bad_settings_stop_the_batch_before_any_work(photos: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(["batch", str(photos), "-o", str(tmp_path / "out"), "--layers", "mixed3"], capsys)
    assert code == 1 and "unknown layer" in err and not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(["batch", str(photos), "-o", str(tmp_path / "file")], capsys)
    assert code == 1 and "is a file, not a folder" in err
    code, _, err = run_cli(["batch", "-o", str(tmp_path / "out")], capsys)
    assert code == 2 and "Missing argument" in err
    code, _, err = run_cli(
        ["batch", "--ray", str(photos), str(photos / "cat.png"), "-o", str(tmp_path / "out")], capsys
    )
    assert code == 2 and "put --ray after the photos" in err  # --ray swallowed the photos
    code, _, err = run_cli(["batch", str(photos), "-o", str(tmp_path / "out"), "--retries", "2"], capsys)
    assert code == 2 and "give --ray too" in err
    assert not (tmp_path / "out").exists()


def test_an_interrupted_batch_leaves_whole_records_and_no_partial_image(
    photos: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    settings = check_engine(DreamSettings(steps=1, octaves=1, max_side=64), "", "cpu", 10**8)
    work = Batch(collect_items([photos], out, True, ".png"), out, settings, device="cpu")
    real_save = Image.Image.save
    saves = []

    def interrupted_second_save(self, stream, *args, **kwargs):
        saves.append(stream)
        if len(saves) == 2:  # Ctrl-C halfway through writing the second dream
            stream.write(b"\x89PNG half an image")
            raise KeyboardInterrupt
        return real_save(self, stream, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", interrupted_second_save)
    with pytest.raises(KeyboardInterrupt):
        work.run(LocalEngine())
    lines = Manifest(out).path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["status"] == "done"
    written = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert len(written) == 1 and np.isfinite(load_image(out / written[0]).rgb).all()
    assert not [p for p in out.rglob(".*") if p.is_file()]  # the half-written temporary file is gone
    monkeypatch.setattr(Image.Image, "save", real_save)
    rerun = Batch(collect_items([photos], out, True, ".png"), out, settings, device="cpu")
    assert len(rerun.todo) == 1 and rerun.skipped == 1


def test_hidden_files_clashing_names_and_globbed_folders(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (photos / "._cat.png").write_bytes(b"a macOS resource fork, not a photo")
    (photos / "cat.jpg").write_bytes((photos / "more" / "coffee.jpg").read_bytes())
    found = relatives(collect_items([photos], out, False, ".png"))
    assert found == ["cat.jpg.png", "cat.png.png"]  # one name each; the hidden file left out
    assert relatives(collect_items([str(tmp_path / "pho*")], out, True, ".png")) == [
        "photos/cat.jpg.png",
        "photos/cat.png.png",
        "photos/more/coffee.png",
    ]
    (photos / "Cat.PNG").write_bytes((photos / "cat.png").read_bytes())  # one file where case is ignored
    with pytest.raises(SettingsError, match="would both be written"):
        collect_items([photos], out, False, ".png")


def test_changing_the_guide_redoes_the_batch(photos: Path, tmp_path: Path, coffee_path: Path, capsys) -> None:
    guide = tmp_path / "guide.png"
    guide.write_bytes(coffee_path.read_bytes())
    args = ["batch", str(photos / "cat.png"), "-o", str(tmp_path / "out"), "--guide", str(guide), *QUICK]
    assert main(args) == 0 and "dreamed 1 photo into" in capsys.readouterr().out
    assert main(args) == 0 and "dreamed 0 photos" in capsys.readouterr().out
    guide.write_bytes((photos / "cat.png").read_bytes())  # another guide under the same name
    assert main(args) == 0 and "dreamed 1 photo into" in capsys.readouterr().out


def test_output_folders_that_cannot_be_made(photos: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(["batch", str(photos), "-o", str(tmp_path / "afile" / "sub"), *QUICK], capsys)
    assert (
        code == 1 and err.startswith("reverie: error: cannot make the output folder") and err.count("\n") == 1
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "more").write_text("a file where a folder of dreams should go")
    code, _, err = run_cli(["batch", str(photos), "--recursive", "-o", str(out), *QUICK], capsys)
    assert code == 1 and "1 done, 1 failed" in err  # that photo fails alone
    assert "cannot make the folder" in Manifest(out).records()["more/coffee.png"].error


def test_dreams_side_by_side_on_one_thread_each_are_the_dreams_one_by_one(
    photos: Path, tmp_path: Path
) -> None:
    settings = check_engine(DreamSettings(steps=2, octaves=2, max_side=80), "", "cpu", 10**8)
    threads = torch.get_num_threads()
    dreamed = {}
    for name, engine in [
        ("side_by_side", LocalEngine(2, threads=1)),
        ("one_by_one", LocalEngine(1, threads=1)),
    ]:
        out = tmp_path / name
        out.mkdir()
        ended: list[str] = []
        summary = Batch(collect_items([photos], out, True, ".png"), out, settings, device="cpu").run(
            engine, lambda task, outcome, ended=ended: ended.append(Path(str(task.output)).name)
        )
        assert (summary.done, summary.failed) == (2, 0) and sorted(ended) == ["cat.png", "coffee.png"]
        dreamed[name] = {path.name: load_image(path).rgb for path in out.rglob("*.png")}
    assert torch.get_num_threads() == threads  # given back
    for name, rgb in dreamed["side_by_side"].items():
        assert np.array_equal(rgb, dreamed["one_by_one"][name]), name


def test_the_batch_command_takes_workers_without_ray(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["batch", str(photos), "--recursive", "-o", str(out), *QUICK, "--workers", "2"], capsys
    )
    assert code == 0 and "dreamed 2 photos" in stdout, err


def test_a_batch_runs_as_many_dreams_here_as_cores_and_memory_allow(tmp_path: Path, monkeypatch) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    3000000 kB\n")
    assert available_memory(meminfo, cgroup=tmp_path) == 3000000 * 1024
    assert available_memory(tmp_path / "absent", cgroup=tmp_path) is None
    (tmp_path / "memory.max").write_text("2000000000\n")
    (tmp_path / "memory.current").write_text("500000000\n")
    assert available_memory(meminfo, cgroup=tmp_path) == 1500000000  # a container's limit holds
    (tmp_path / "memory.max").write_text("max\n")
    assert available_memory(meminfo, cgroup=tmp_path) == 3000000 * 1024
    monkeypatch.setattr(cluster.torch, "get_num_threads", lambda: 16)
    monkeypatch.setattr(cluster, "available_memory", lambda: None)
    assert local_workers("cpu") == 16 // cluster.THREADS_PER_LOCAL_WORKER
    monkeypatch.setattr(cluster, "available_memory", lambda: 3 * LOCAL_WORKER_MEMORY + 1)
    assert local_workers("cpu") == 3  # no more dreams than the memory holds
    monkeypatch.setattr(cluster, "available_memory", lambda: 1)
    assert local_workers("cpu") == 1
