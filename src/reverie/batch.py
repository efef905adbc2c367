"""Batches: many photos dreamed with one set of settings, resumably, here or on a Ray cluster.

A batch turns its inputs (files, folders, globs) into one :class:`reverie.tasks.DreamTask` per
photo, with the output at the input's relative place under the output folder, and hands them to an
engine (:mod:`reverie.cluster`: this process, or Ray actors). The output folder keeps a manifest,
``manifest.jsonl``: one JSON line per finished item (input, fingerprint, output, status, error,
seconds), appended whole and flushed, so an interrupted batch leaves complete lines only. A rerun
skips every item whose fingerprint (the input's bytes and the settings) matches a finished output,
and dreams the rest.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reverie.animate.frames import job_fingerprint
from reverie.cluster import Engine, Outcome, OutcomeCallback
from reverie.errors import OutputPathError, SettingsError, one_line
from reverie.io.images import OUTPUT_FORMATS
from reverie.models import get_spec
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask
from reverie.weights import find_weights

PathLike = str | os.PathLike[str]

MANIFEST = "manifest.jsonl"
#: Extensions a folder's files must have to be taken as photos (explicitly named files always are).
PHOTO_SUFFIXES = frozenset(OUTPUT_FORMATS)
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class BatchItem:
    """One photo of a batch: where it is, and where (relative to the output folder) its dream goes."""

    source: Path
    relative: Path


def collect_items(inputs: Sequence[PathLike], outdir: Path, recursive: bool, suffix: str) -> list[BatchItem]:
    """The photos ``inputs`` name, each with its output path relative to ``outdir``.

    A file keeps its name; a folder's photos keep their place inside the folder (subfolders with
    ``recursive``); a glob's matches keep their place below the glob's fixed leading folders (``**``
    reaches into subfolders with ``recursive``; a matched folder counts as a folder input). Hidden
    files are left out of folders and globs. A named file that does not exist is still an item (it
    fails alone). Nothing in folders or globs under ``outdir`` is taken, so a rerun never dreams
    its own results. Photos of one name but another format (``cat.jpg``, ``cat.png``) keep their
    format in the output's name (``cat.jpg.png``); two inputs that would still write one output
    are an error before any work.
    """
    items: list[BatchItem] = []
    for text in map(str, inputs):
        items.extend(items_of(text, outdir.resolve(), recursive))
    if not items:
        raise SettingsError(f"no photos found in {' '.join(map(str, inputs))}")
    items = list({item.source: item for item in items}.values())  # a photo named twice: once
    stems = Counter(output_key(item.relative.with_suffix(suffix)) for item in items)
    seen: dict[str, Path] = {}
    result = []
    for item in items:
        relative = item.relative.with_suffix(suffix)
        if stems[output_key(relative)] > 1:
            relative = item.relative.with_name(item.relative.name + suffix)
        key = output_key(relative)
        if key in seen:
            raise SettingsError(
                f"{seen[key]} and {item.source} would both be written to {outdir / relative}; "
                "dream them into separate output folders, or name their common folder with --recursive"
            )
        seen[key] = item.source
        result.append(BatchItem(item.source, relative))
    return result


def output_key(relative: Path) -> str:
    """An output path as file systems that ignore case see it."""
    return str(relative).casefold()


def items_of(text: str, outdir: Path, recursive: bool) -> list[BatchItem]:
    """The items one input argument names."""
    path = Path(text).expanduser()
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        return photos_below(path, sorted(path.glob(pattern)), outdir)
    if GLOB_CHARACTERS & set(text) and not path.exists():
        base = glob_base(path)
        items = []
        for match in sorted(glob.glob(str(path), recursive=recursive)):
            found = Path(match)
            if found.is_dir():
                items += [
                    BatchItem(i.source, found.relative_to(base) / i.relative)
                    for i in items_of(match, outdir, recursive)
                ]
            else:
                items += photos_below(base, [found], outdir)
        return items
    return [BatchItem(path.absolute(), Path(path.name))]


def photos_below(base: Path, paths: Iterable[Path], outdir: Path) -> list[BatchItem]:
    """``paths`` that are photo files outside ``outdir`` and not hidden, relative to ``base``."""
    return [
        BatchItem(path.absolute(), path.relative_to(base))
        for path in paths
        if path.is_file()
        and path.suffix.lower() in PHOTO_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(base).parts)
        and not path.resolve().is_relative_to(outdir)
    ]


def glob_base(pattern: Path) -> Path:
    """The leading folders of a glob pattern before its first wildcard: ``a/b/*/c*.jpg`` -> ``a/b``."""
    fixed = []
    for part in pattern.parts:
        if GLOB_CHARACTERS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


# ------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Record:
    """One manifest line: how an item ended."""

    input: str
    output: str
    fingerprint: str
    status: str  # "done" or "failed"
    error: str = ""
    seconds: float = 0.0


class Manifest:
    """``OUTDIR/manifest.jsonl``: the last line about an output says how it ended."""

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / MANIFEST

    def records(self) -> dict[str, Record]:
        """The latest record per output; a torn last line (a killed run) is ignored."""
        latest: dict[str, Record] = {}
        if not self.path.exists():
            return latest
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = Record(**json.loads(line))
            except (ValueError, TypeError):
                continue
            latest[record.output] = record
        return latest

    def append(self, record: Record) -> None:
        """Add one whole line: a single write to a file opened for appending, then flushed to disk.

        A manifest that cannot be written stops the batch (what was done could not be recorded).
        """
        line = (json.dumps(asdict(record), sort_keys=True) + "\n").encode("utf-8")
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as error:
            raise OutputPathError(f"cannot write the manifest {self.path}: {one_line(error)}") from None


def decided_by(settings: DreamSettings, weights: str) -> str:
    """What besides the photo decides an output: the settings and the identity of the weights,
    guide and mask files (so replacing one redoes the batch), as JSON."""
    spec = get_spec(settings.model)
    files = {"weights": find_weights(spec, weights or None), "guide": settings.guide, "mask": settings.mask}
    return json.dumps(job_fingerprint(files, settings.to_dict()), sort_keys=True)


def fingerprint(source: Path, decided: str) -> str:
    """SHA-256 of the input's bytes and what else decides its output (:func:`decided_by`)."""
    digest = hashlib.sha256(decided.encode())
    try:
        with open(source, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        digest.update(b"unreadable")
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- run


@dataclass
class BatchSummary:
    """What a batch did: dreamed now, already done before, failed (with the manifest to read)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    manifest: Path = field(default_factory=Path)


class Batch:
    """The unfinished items of a batch as tasks, and their run.

    ``settings`` must be checked (:func:`reverie.tasks.check_engine`); every item is dreamed with
    them and the engine options (weights, device, pixel limit). Items whose manifest record says
    done, with the same fingerprint and the output still there, are skipped.
    """

    def __init__(
        self, items: Sequence[BatchItem], outdir: Path, settings: DreamSettings, **engine: Any
    ) -> None:
        self.outdir = outdir
        self.manifest = Manifest(outdir)
        decided = decided_by(settings, engine.get("weights", ""))
        finished = self.manifest.records()
        self.todo: list[DreamTask] = []
        self.stamps: dict[Path, str] = {}
        self.skipped = 0
        for item in items:
            stamp = fingerprint(item.source, decided)
            record = finished.get(str(item.relative))
            done = record is not None and record.status == "done" and record.fingerprint == stamp
            if done and (outdir / item.relative).is_file():
                self.skipped += 1
                continue
            output = outdir / item.relative
            self.stamps[output] = stamp
            self.todo.append(DreamTask(item.source, output, settings=settings, **engine))

    def run(self, engine: Engine, on_item: OutcomeCallback | None = None) -> BatchSummary:
        """Dream the unfinished items on ``engine``, writing each ending to the manifest as it comes."""
        summary = BatchSummary(skipped=self.skipped, manifest=self.manifest.path)

        def record(task: DreamTask, outcome: Outcome) -> None:
            output = Path(str(task.output))
            status = "failed" if outcome.error else "done"
            relative = str(output.relative_to(self.outdir))
            seconds = round(outcome.seconds, 3)
            self.manifest.append(
                Record(str(task.source), relative, self.stamps[output], status, outcome.error, seconds)
            )
            summary.failed += bool(outcome.error)
            summary.done += not outcome.error
            if on_item is not None:
                on_item(task, outcome)

        ready = []
        for task in self.todo:  # an output folder that cannot be made fails its photos alone
            try:
                Path(str(task.output)).parent.mkdir(parents=True, exist_ok=True)
                ready.append(task)
            except OSError as error:
                record(task, Outcome(f"cannot make the folder for {task.output}: {one_line(error)}"))
        engine.run(ready, record)
        return summary
