"""Job records of the web app, kept in SQLite in the data folder so restarts lose nothing.

A job is one uploaded photo and the settings to dream it with. Its files live beside the database,
named by the job's random id only (user file names never reach the file system):
``uploads/ID.png`` (the upload, decoded and re-encoded), ``previews/ID.jpg`` (the picture after the
last finished octave) and ``results/ID.png``.

Every method opens its own short-lived connection, so the web threads and the worker threads never
share one; WAL journaling lets readers go on while a worker writes progress.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from reverie.settings import DreamSettings

QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "done", "failed", "cancelled", "interrupted",
)  # fmt: skip
#: States a job never leaves unless retried.
FINISHED = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED})

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    settings TEXT NOT NULL,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    has_preview INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created);
"""


@dataclass(frozen=True)
class Job:
    """One job as stored. ``name`` is the upload's file name, for display only."""

    id: str
    status: str
    created: float
    started: float | None
    finished: float | None
    settings: DreamSettings
    name: str
    width: int
    height: int
    progress: float
    stage: str
    error: str
    has_preview: bool

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["settings"] = json.loads(self.settings.to_json())
        data["has_preview"] = bool(self.has_preview)
        return data


def new_job_id() -> str:
    """128 random bits, URL-safe: ids cannot be guessed, so results cannot be enumerated."""
    return secrets.token_urlsafe(16)


def display_name(name: str | None) -> str:
    """A user file name made safe to show: its last path part, printable characters, 100 at most."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable())[:100].strip()
    return cleaned or "upload"


class JobStore:
    """The jobs table and the files beside it, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for sub in ("uploads", "previews", "results"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.database = folder / "jobs.sqlite3"
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.database, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    # paths -------------------------------------------------------------------------------------

    def upload_path(self, job_id: str) -> Path:
        return self.folder / "uploads" / f"{job_id}.png"

    def preview_path(self, job_id: str) -> Path:
        return self.folder / "previews" / f"{job_id}.jpg"

    def result_path(self, job_id: str) -> Path:
        return self.folder / "results" / f"{job_id}.png"

    # records -----------------------------------------------------------------------------------

    def add(self, job_id: str, settings: DreamSettings, name: str, size: tuple[int, int]) -> Job:
        with self.connect() as db:
            db.execute(
                "INSERT INTO jobs (id, status, created, settings, name, width, height) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, QUEUED, time.time(), settings.to_json(), display_name(name), *size),
            )
        return self.get(job_id)  # type: ignore[return-value]

    def get(self, job_id: str) -> Job | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    def recent(self, limit: int = 50) -> list[Job]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [job_from_row(row) for row in rows]

    def claim_next(self) -> Job | None:
        """The oldest queued job, marked running, or None; safe with several workers."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY created LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE jobs SET status = ?, started = ?, progress = 0, stage = '', error = '' "
                    "WHERE id = ?",
                    (RUNNING, time.time(), row["id"]),
                )
            db.execute("COMMIT")
        return None if row is None else self.get(row["id"])

    def report(self, job_id: str, progress: float, stage: str, has_preview: bool | None = None) -> None:
        with self.connect() as db:
            db.execute("UPDATE jobs SET progress = ?, stage = ? WHERE id = ?", (progress, stage, job_id))
            if has_preview is not None:
                db.execute("UPDATE jobs SET has_preview = ? WHERE id = ?", (int(has_preview), job_id))

    def finish(self, job_id: str, status: str, error: str = "") -> None:
        """Move a job to a finished state (``status`` in :data:`FINISHED`)."""
        progress_sql = ", progress = 1" if status == DONE else ""
        with self.connect() as db:
            db.execute(
                f"UPDATE jobs SET status = ?, finished = ?, error = ?{progress_sql} WHERE id = ?",
                (status, time.time(), error, job_id),
            )

    def cancel_if_queued(self, job_id: str) -> bool:
        """Cancel a job that has not started; False if it was not queued."""
        with self.connect() as db:
            changed = db.execute(
                "UPDATE jobs SET status = ?, finished = ? WHERE id = ? AND status = ?",
                (CANCELLED, time.time(), job_id, QUEUED),
            ).rowcount
        return changed == 1

    def requeue(self, job_id: str) -> bool:
        """Queue a failed, cancelled or interrupted job again; False for any other state."""
        with self.connect() as db:
            changed = db.execute(
                "UPDATE jobs SET status = ?, created = ?, started = NULL, finished = NULL, progress = 0, "
                "stage = '', error = '', has_preview = 0 WHERE id = ? AND status IN (?, ?, ?)",
                (QUEUED, time.time(), job_id, FAILED, CANCELLED, INTERRUPTED),
            ).rowcount
        return changed == 1

    def interrupt_running(self) -> int:
        """Mark jobs left running by a previous server (killed, not stopped) as interrupted."""
        with self.connect() as db:
            return db.execute(
                "UPDATE jobs SET status = ?, finished = ?, error = ? WHERE status = ?",
                (INTERRUPTED, time.time(), "the server stopped while this job ran", RUNNING),
            ).rowcount


def job_from_row(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["settings"] = DreamSettings.from_json(values["settings"])
    values["has_preview"] = bool(values["has_preview"])
    return Job(**values)
