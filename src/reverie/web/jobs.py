"""Job records of the web app, kept in SQLite in the data folder so restarts lose nothing.

A job is one uploaded photo (or video) and the settings to dream it with. Its files live beside the
database, named by the job's random id only (user file names never reach the file system):

- ``uploads/ID.EXT``: the upload as sent (checked, never re-encoded, so the worker dreams exactly
  the pixels the command line would), ``uploads/ID.guide.EXT`` and ``uploads/ID.mask.EXT`` beside it;
- ``pictures/ID.png``: the photo (a video's first frame) at the working size, for the page;
- ``previews/ID.jpg``: the picture after the last finished octave or frame;
- ``results/ID.png`` (``.mp4``, ``.gif``, ``.webp`` for animations).

A finished job may have a share link (:mod:`reverie.web.share`): its token is a column of the job's
row, so deleting the job revokes the link with it.

Every method opens its own short-lived connection, so the web threads and the worker threads never
share one; WAL journaling lets readers go on while a worker writes progress. The database is checked
when the store opens: a damaged or truncated one is refused with a message that says what to do,
never used half-readable. One server at a time uses a data folder (:func:`held_data_folder`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reverie.errors import ResourceError, ReverieError, one_line
from reverie.settings import DreamSettings

QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "done", "failed", "cancelled", "interrupted",
)  # fmt: skip
#: States a job never leaves unless retried.
FINISHED = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED})

#: Folders of the data folder, by the role of the files they hold.
FOLDERS = {
    "source": "uploads",
    "guide": "uploads",
    "mask": "uploads",
    "picture": "pictures",
    "preview": "previews",
    "result": "results",
}

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
    has_preview INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'dream',
    options TEXT NOT NULL DEFAULT '{}',
    files TEXT NOT NULL DEFAULT '{}',
    share TEXT UNIQUE,
    share_settings INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created);
"""
#: The file a server holds locked in its data folder for as long as it runs.
LOCK_FILE = "server.lock"
#: The order workers claim queued jobs in: oldest first, then in the order they were added.
QUEUE_ORDER = "created, rowid"
#: Seconds between two deletions of old jobs (``serve --keep-days``), and the units they count in.
PRUNE_EVERY = 3600.0
DAY = 86_400.0
GB = 1024**3

log = logging.getLogger("reverie.web")


class JobStoreError(ReverieError):
    """The job database cannot be used: damaged, truncated, or not a database."""


class ServerBusyError(ResourceError):
    """The server cannot take this request now but will soon (no room yet to read an upload): the
    web answers it with ``Retry-After``."""


class QueueFullError(ServerBusyError):
    """As many jobs wait in the queue as the server takes (``serve --max-queued``): a 429."""


class DataFolderFullError(ResourceError):
    """The data folder holds as much as the server may keep (``serve --max-data-gb``): a 507, until
    finished jobs are deleted."""


@dataclass(frozen=True)
class Job:
    """One job as stored. ``name`` is the upload's file name, for display only; ``options`` hold a
    zoom's motion (``{"motion": {...}}``) or a video's coherence; ``files`` name each of the job's
    files in its folder (see :data:`FOLDERS`)."""

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
    kind: str = "dream"
    options: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: The token of the job's share link ("" when it has none) and whether the link shows the settings.
    share: str = ""
    share_settings: bool = False

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["settings"] = json.loads(self.settings.to_json())
        data["has_preview"] = bool(self.has_preview)
        return data


def new_job_id() -> str:
    """128 random bits, URL-safe (no dots): ids cannot be guessed, so results cannot be enumerated."""
    return secrets.token_urlsafe(16)


#: A share link's token: 256 random bits, URL-safe (:func:`new_share_token`).
SHARE_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_share_token() -> str:
    """A token for a share link: unguessable, so a link reaches only the job it was made for."""
    return secrets.token_urlsafe(32)


def display_name(name: str | None) -> str:
    """A user file name made safe to show: its last path part, printable characters, 100 at most."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable())[:100].strip()
    return cleaned or "upload"


class JobStore:
    """The jobs table and the files beside it, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for sub in sorted(set(FOLDERS.values())):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.database = folder / "jobs.sqlite3"
        self.check_database()
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

    # checks ------------------------------------------------------------------------------------

    def check_database(self) -> None:
        """Refuse a database that is damaged, or empty while job files lie beside it (cut short).

        An empty file with no job files is a database that was never written: it is started anew.
        """
        if not self.database.exists():
            return
        advice = "move it away to start with an empty one (the job files stay), or restore a backup"
        if self.database.stat().st_size == 0:
            if self.job_file_ids():
                raise JobStoreError(
                    f"the job database {self.database} is empty (0 bytes) but job files lie beside it: "
                    f"it was cut short; {advice}"
                )
            return
        try:
            with self.connect() as db:
                problems = [row[0] for row in db.execute("PRAGMA integrity_check(3)")]
        except sqlite3.DatabaseError as error:
            damage = one_line(error)
            raise JobStoreError(f"the job database {self.database} is damaged ({damage}); {advice}") from None
        if problems != ["ok"]:
            raise JobStoreError(f"the job database {self.database} is damaged ({problems[0]}); {advice}")

    def job_file_ids(self) -> set[str]:
        """Ids of the jobs that have files in the upload or result folders."""
        ids = set()
        for sub in ("uploads", "results"):
            for path in (self.folder / sub).iterdir():
                if not path.name.startswith("."):
                    ids.add(path.name.split(".", 1)[0])
        return ids

    def unrecorded_files(self) -> int:
        """How many jobs have files on disk but no record (a database restored from an old backup,
        or lost): they are left alone, and the server says so when it starts."""
        with self.connect() as db:
            recorded = {row["id"] for row in db.execute("SELECT id FROM jobs")}
        return len(self.job_file_ids() - recorded)

    # paths -------------------------------------------------------------------------------------

    def path(self, job: Job, role: str) -> Path:
        """The file of ``job`` with ``role`` (a key of :data:`FOLDERS`); previews are always JPEG."""
        if role == "preview":
            return self.folder / "previews" / f"{job.id}.jpg"
        name = job.files.get(role) or f"{job.id}.none"
        return self.folder / FOLDERS[role] / name

    def new_path(self, job_id: str, role: str, suffix: str) -> Path:
        """Where a new job's file of ``role`` goes: ``ID.SUFFIX``, or ``ID.ROLE.SUFFIX`` for guides
        and masks, which share the upload folder."""
        middle = f".{role}" if role in ("guide", "mask") else ""
        return self.folder / FOLDERS[role] / f"{job_id}{middle}{suffix}"

    # records -----------------------------------------------------------------------------------

    def add(self, job: Job, *more: Job, max_queued: int | None = None) -> Job:
        """Record ``job`` (made by the app, its files already in place) as queued, created now, and
        ``more`` after it, in that order: all of them or, if one cannot be, none. A
        :class:`QueueFullError` when ``max_queued`` jobs would be exceeded (counted in the same
        transaction, so uploads arriving together cannot all slip past the cap)."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if max_queued is not None:
                    check_queue(count_queued(db) + len(more), max_queued)
                for each in (job, *more):
                    db.execute(
                        "INSERT INTO jobs (id, status, created, settings, name, width, height, kind, "
                        "options, files) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            each.id, QUEUED, time.time(), each.settings.to_json(), display_name(each.name),
                            each.width, each.height, each.kind, json.dumps(each.options),
                            json.dumps(each.files),
                        ),
                    )  # fmt: skip
                db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        return self.get(job.id)  # type: ignore[return-value]

    def queued(self) -> int:
        """How many jobs wait in the queue."""
        with self.connect() as db:
            return count_queued(db)

    def unfinished(self) -> int:
        """How many jobs wait in the queue or run."""
        with self.connect() as db:
            query = "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)"
            return db.execute(query, (QUEUED, RUNNING)).fetchone()[0]

    def bytes_used(self) -> int:
        """Bytes the data folder holds: every file in it and its sub-folders (a video's frames, the
        looks' thumbnails and the database included)."""
        return folder_bytes(self.folder)

    def get(self, job_id: str) -> Job | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    def listing(
        self,
        limit: int = 50,
        offset: int = 0,
        kind: str | None = None,
        looks: Sequence[tuple[str, str]] | None = None,
    ) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and how many jobs there are in all; only those of ``kind``
        and, with ``looks``, those that dream one of its (model, layers)."""
        where, values = ["1"], []
        if kind is not None:
            where.append("kind = ?")
            values.append(kind)
        if looks is not None:
            look = "(json_extract(settings, '$.model') = ? AND json_extract(settings, '$.layers') = ?)"
            where.append("(" + " OR ".join([look] * len(looks) or ["0"]) + ")")
            values += [text for pair in looks for text in pair]
        condition = " AND ".join(where)
        with self.connect() as db:
            db.execute("BEGIN")  # the page and the count read one state
            total = db.execute(f"SELECT COUNT(*) FROM jobs WHERE {condition}", values).fetchone()[0]
            rows = db.execute(
                f"SELECT * FROM jobs WHERE {condition} ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                [*values, limit, offset],
            ).fetchall()
            db.execute("COMMIT")
        return [job_from_row(row) for row in rows], total

    def active(self) -> list[Job]:
        """Queued and running jobs, in the order workers claim them (:data:`QUEUE_ORDER`)."""
        with self.connect() as db:
            rows = db.execute(
                f"SELECT * FROM jobs WHERE status IN (?, ?) ORDER BY {QUEUE_ORDER}", (QUEUED, RUNNING)
            ).fetchall()
        return [job_from_row(row) for row in rows]

    def recently_done(self, limit: int) -> list[Job]:
        """The last ``limit`` jobs that finished with a result, the latest first."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE status = ? ORDER BY finished DESC LIMIT ?", (DONE, limit)
            ).fetchall()
        return [job_from_row(row) for row in rows]

    def claim_next(self) -> Job | None:
        """The oldest queued job, marked running, or None; safe with several workers."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    f"SELECT id FROM jobs WHERE status = ? ORDER BY {QUEUE_ORDER} LIMIT 1", (QUEUED,)
                ).fetchone()
                if row is not None:
                    db.execute(
                        "UPDATE jobs SET status = ?, started = ?, progress = 0, stage = '', error = '' "
                        "WHERE id = ?",
                        (RUNNING, time.time(), row["id"]),
                    )
                db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
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

    def share(self, job_id: str, settings: bool) -> str | None:
        """The token of a finished job's share link, made now unless it has one (a link already
        given out stays valid); ``settings``: whether the link shows them. None unless done."""
        with self.connect() as db:
            db.execute(
                "UPDATE jobs SET share = COALESCE(share, ?), share_settings = ? WHERE id = ? AND status = ?",
                (new_share_token(), int(settings), job_id, DONE),
            )
            row = db.execute("SELECT share FROM jobs WHERE id = ? AND status = ?", (job_id, DONE)).fetchone()
        return None if row is None else row["share"]

    def unshare(self, job_id: str) -> None:
        """Revoke a job's share link (if it has one): its token reaches nothing any more."""
        with self.connect() as db:
            db.execute("UPDATE jobs SET share = NULL, share_settings = 0 WHERE id = ?", (job_id,))

    def shared(self, token: str) -> Job | None:
        """The finished job a share link's token stands for, or None."""
        with self.connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE share = ? AND status = ?", (token, DONE)).fetchone()
        return None if row is None else job_from_row(row)

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

    def delete(self, job_id: str) -> bool:
        """Remove a finished (or never started) job's record and files; False for a running job
        or one that is not there."""
        job = self.get(job_id)
        if job is None:
            return False
        with self.connect() as db:
            removed = db.execute("DELETE FROM jobs WHERE id = ? AND status != ?", (job_id, RUNNING)).rowcount
        if removed != 1:
            return False
        self.remove_files(job)
        return True

    def remove_files(self, job: Job) -> None:
        for role in FOLDERS:
            path = self.path(job, role)
            with suppress(OSError):
                path.unlink()
            shutil.rmtree(path.with_name(path.name + ".frames"), ignore_errors=True)  # a video's frames

    def prune(self, finished_before: float) -> int:
        """Delete the jobs that finished before ``finished_before`` (a time.time()), files and all;
        how many. Queued and running jobs are never touched, even one retried meanwhile: each
        deletion checks the job's state again."""
        with self.connect() as db:
            rows = db.execute(
                f"SELECT * FROM jobs WHERE status IN ({', '.join('?' * len(FINISHED))}) AND finished < ?",
                (*sorted(FINISHED), finished_before),
            ).fetchall()
        pruned = 0
        for job in map(job_from_row, rows):
            with self.connect() as db:
                removed = db.execute(
                    f"DELETE FROM jobs WHERE id = ? AND status IN ({', '.join('?' * len(FINISHED))}) "
                    "AND finished < ?",
                    (job.id, *sorted(FINISHED), finished_before),
                ).rowcount
            if removed == 1:
                self.remove_files(job)
                pruned += 1
        return pruned

    def interrupt_running(self) -> int:
        """Mark jobs left running by a previous server (killed, not stopped) as interrupted."""
        with self.connect() as db:
            return db.execute(
                "UPDATE jobs SET status = ?, finished = ?, error = ? WHERE status = ?",
                (INTERRUPTED, time.time(), "the server stopped while this job ran", RUNNING),
            ).rowcount


def count_queued(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (QUEUED,)).fetchone()[0]


def check_queue(queued: int, max_queued: int) -> None:
    """A :class:`QueueFullError` when ``queued`` jobs leave no room for another."""
    if queued >= max_queued:
        raise QueueFullError(
            f"the queue is full ({queued} jobs are waiting); try again when some have run",
            value=queued,
            limits={"maximum": max_queued},
        )


def check_data_folder(used: int, max_bytes: int) -> None:
    """A :class:`DataFolderFullError` when ``used`` bytes are over ``max_bytes`` (0: no limit)."""
    if max_bytes and used > max_bytes:
        raise DataFolderFullError(
            f"the server's storage is full ({used / GB:.2f} of {max_bytes / GB:.2f} GB); delete finished "
            "jobs you no longer need to make room",
            value=used,
            limits={"maximum": max_bytes},
        )


def folder_bytes(folder: Path) -> int:
    """Bytes of the files in ``folder`` and its sub-folders (links not followed; files that vanish
    while counted do not count)."""
    total = 0
    with suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    total += folder_bytes(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
    return total


class Pruner:
    """Deletes finished jobs older than ``keep_days`` (:meth:`JobStore.prune`): once when started,
    then every ``every`` seconds in a thread of its own, until stopped."""

    def __init__(self, store: JobStore, keep_days: int, every: float = PRUNE_EVERY) -> None:
        self.store = store
        self.keep_days = keep_days
        self.every = every
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="reverie-pruner", daemon=True)

    def start(self) -> None:
        if self.keep_days:
            self.prune()
            self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            self.prune()

    def prune(self) -> None:
        """One pass; a store that fails (a full disk, a locked database) is tried again next time."""
        try:
            pruned = self.store.prune(time.time() - self.keep_days * DAY)
        except (OSError, sqlite3.Error) as error:
            log.error("could not delete old jobs (%s); trying again later", one_line(error))
            return
        if pruned:
            log.info("deleted %d finished job(s) older than %d days", pruned, self.keep_days)


@contextmanager
def held_data_folder(folder: Path) -> Iterator[None]:
    """``folder`` kept for this process while the block runs; a :class:`ResourceError` if another
    process holds it.

    A second server on the same folder would take the first one's running jobs for jobs left by a
    killed server and mark them interrupted. The hold is an OS lock (``flock``) on :data:`LOCK_FILE`,
    which lasts as long as the file is open: the OS lets it go when the process ends, however it
    ends, so a killed server leaves no stale lock. The file names the holder's process id, for the
    message.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise ResourceError(f"cannot use data folder {folder}: {one_line(error)}") from None
    with lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise ResourceError(f"cannot lock data folder {folder}: {one_line(error)}") from None
            lock.seek(0)
            raise folder_in_use(folder, lock.read().strip()) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def folder_in_use(folder: Path, holder: str) -> ResourceError:
    """The error for a data folder another process holds (``holder``: its process id, if known)."""
    process = f" (process {holder})" if holder.isdigit() else ""
    return ResourceError(
        f"data folder {folder} is in use by another reverie serve{process}; "
        "stop that server, or give this one another --data-dir",
        field="data_dir",
        value=str(folder),
    )


def job_from_row(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["settings"] = DreamSettings.from_json(values["settings"])
    values["has_preview"] = bool(values["has_preview"])
    values["options"] = json.loads(values.get("options") or "{}")
    values["files"] = json.loads(values.get("files") or "{}")
    values["share"] = values.get("share") or ""
    values["share_settings"] = bool(values.get("share_settings"))
    return Job(**values)
