"""A crowd of huge pictures in small files sent to one ``reverie serve`` at once: its memory and its answers.

A real server (``--device cpu``) first dreams one small job and shows every look, so its models are
loaded and its memory is what an idle server holds. Then 20 clients upload at once a 125 KB PNG
that declares 39.7 megapixels (7720x5140, one colour: the decoder has the whole picture to make)
and ask for a tiny dream of it. Measured from the server's /proc: its resident memory when idle,
its peak while the uploads are answered (the kernel's high-water mark, reset before the crowd), and
what it holds once every answer has come and again once the queue has dreamed every job; per
client, its answer and how long it took. Results go to bench/crowd.json under a label (``before``
for the server without a decoding budget, ``after`` with one) and every label to bench/CROWD.md.

    .venv/bin/python bench/bench_crowd.py --label after   (~3 min on 2 CPUs)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from reverie.samples import sample_path

BENCH = Path(__file__).resolve().parent
CLIENTS = 20
SIDE = (7720, 5140)
TINY = {"max_side": "128", "steps": "1", "octaves": "1"}
#: How long a client waits for its answer, and the queue for its jobs, seconds.
ANSWER_TIMEOUT = 600.0
GiB = 1024**3


def huge_png() -> bytes:
    """A one-colour PNG of :data:`SIDE`: tiny on the wire, 39.7 MP to decode."""
    data = io.BytesIO()
    Image.new("RGB", SIDE, (120, 40, 200)).save(data, "PNG", compress_level=9)
    return data.getvalue()


def memory(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` memory field (``VmRSS``, ``VmHWM``) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> None:
    """Start the kernel's high-water mark of resident memory (VmHWM) again from now."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "reverie.cli", "serve", "--port", str(port), "--data-dir", str(data)]
    process = subprocess.Popen([*command, "--device", "cpu"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:  # the server prints its address once it is up
        if line.startswith("Reverie is at") or time.monotonic() > deadline:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep its pipe drained
    return process


def wait_for_queue(client: httpx.Client, ids: list[str]) -> None:
    """Until every job in ``ids`` has finished (``ANSWER_TIMEOUT`` at most)."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        states = [client.get(f"/api/jobs/{job_id}").json()["status"] for job_id in ids]
        if all(state not in ("queued", "running") for state in states):
            return
        time.sleep(0.5)
    raise RuntimeError("the queue never drained")


def crowd(url: str, picture: bytes) -> list[tuple[int, float, str]]:
    """(status, seconds, job id or "") of each of :data:`CLIENTS` uploads sent at once."""
    answers: list[tuple[int, float, str]] = []
    start = threading.Barrier(CLIENTS)

    def upload() -> None:
        files = {"image": ("huge.png", picture, "image/png")}
        start.wait()
        began = time.perf_counter()
        response = httpx.post(f"{url}/api/jobs", files=files, data=TINY, timeout=ANSWER_TIMEOUT)
        job_id = response.json().get("id", "") if response.status_code == 201 else ""
        answers.append((response.status_code, time.perf_counter() - began, job_id))

    threads = [threading.Thread(target=upload) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(ANSWER_TIMEOUT)
    return answers


def measure() -> dict:
    picture = huge_png()
    folder = Path(tempfile.mkdtemp(prefix="crowd-"))
    data = folder / "data"
    port = free_port()
    server = start_server(data, port)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            files = {"image": ("cat.png", sample_path("chelsea").read_bytes(), "image/png")}
            warm = client.post("/api/jobs", files=files, data=TINY).json()["id"]
            wait_for_queue(client, [warm])
            for model in client.get("/api/models").json():  # the looks made, their models loaded
                for look in model["looks"]:
                    client.get(look["thumbnail_url"], timeout=ANSWER_TIMEOUT)
            time.sleep(1)
            idle = memory(server.pid, "VmRSS")
            reset_peak(server.pid)
            began = time.perf_counter()
            answers = crowd(url, picture)
            answered_s = time.perf_counter() - began
            peak_answering = memory(server.pid, "VmHWM")
            after_answers = memory(server.pid, "VmRSS")
            wait_for_queue(client, [job_id for _, _, job_id in answers if job_id])
            time.sleep(1)
            after_queue = memory(server.pid, "VmRSS")
            peak_overall = memory(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    seconds = sorted(elapsed for _, elapsed, _ in answers)
    return {
        "clients": CLIENTS, "upload_bytes": len(picture), "megapixels": SIDE[0] * SIDE[1] / 1e6,
        "statuses": sorted(status for status, _, _ in answers), "idle_gib": idle / GiB,
        "peak_answering_gib": peak_answering / GiB, "peak_overall_gib": peak_overall / GiB,
        "after_answers_gib": after_answers / GiB, "after_queue_gib": after_queue / GiB,
        "fastest_answer_s": seconds[0], "median_answer_s": seconds[len(seconds) // 2],
        "slowest_answer_s": seconds[-1], "all_answered_s": answered_s,
    }  # fmt: skip


def report(results: dict[str, dict]) -> str:
    """bench/CROWD.md from every label measured."""
    import torch

    lines = [
        "# A crowd of huge pictures in small files",
        "",
        f"Measured by `bench/bench_crowd.py` on {platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, Python {platform.python_version()}. A real `reverie serve --device cpu`,",
        "its models loaded first by one small job and the looks; then 20 clients at once each upload a",
        "125 KB PNG that declares 39.7 megapixels and ask for a 128 px dream of it. Memory is the server's",
        'resident set (/proc), in GiB; "peak" is the kernel\'s high-water mark from just before the crowd.',
        "",
        "| server | answers | idle | peak while answering | after the answers | after the queue "
        "| peak overall | slowest answer s | median s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ordered = sorted(results, key=lambda label: list(LABELS).index(label) if label in LABELS else len(LABELS))
    for label in ordered:
        row = results[label]
        statuses = ", ".join(f"{row['statuses'].count(s)} x {s}" for s in sorted(set(row["statuses"])))
        cells = [
            label, statuses, *(f"{row[key]:.2f}" for key in ("idle_gib", "peak_answering_gib")),
            *(f"{row[key]:.2f}" for key in ("after_answers_gib", "after_queue_gib", "peak_overall_gib")),
            f"{row['slowest_answer_s']:.1f}", f"{row['median_answer_s']:.1f}",
        ]  # fmt: skip
        lines.append(f"| {' | '.join(cells)} |")
    lines += ["", *(f"- **{label}**: {LABELS.get(label, '')}" for label in ordered), "", NOTES]
    return "\n".join(lines) + "\n"


#: What each measured server was.
LABELS = {
    "before": "the server of issue 18: two uploads read at a time (a semaphore) whatever their size, "
    "the worker's own reading of a job's picture beside them, freed memory left to glibc.",
    "after": "every read of a picture (uploads, and the worker's job, which goes first) admitted "
    "by its predicted memory (header pixels x 13 bytes, 20 with transparency) against "
    "`--decode-budget-mb` (1024); the rest wait in line (503 after `--decode-wait`); after each read "
    "`malloc_trim(0)` hands the freed memory back to the system.",
    "budget-no-trim": "the budget alone, `malloc_trim` switched off in the code for this run.",
    "arena-max-2": "the budget without `malloc_trim`, the server started with `MALLOC_ARENA_MAX=2`.",
    "mmap-threshold-1mb": "the budget without `malloc_trim`, the server started with "
    "`MALLOC_MMAP_THRESHOLD_=1048576` (every block of 1 MB or more mapped on its own and unmapped "
    "when freed).",
}

NOTES = """\
All rows were measured one after another in one session. The budget alone changes little: the
gigabytes are not pictures being read but memory already freed, which glibc keeps in the arena of
the thread that freed it, for that thread. Each of the three ways to hand it back bounds the peak;
`malloc_trim` after each read gives back the most after the burst, needs no setting made before
the process starts (an environment variable), leaves other programs that import Reverie alone, and
keeps the allocator's behaviour for everything else. The answers take as long as the two CPUs take
to read 20 pictures of 40 MP (about 1.5 to 3.7 s each, as busy as the machine is) and the 20 jobs'
own readings of them: no faster, and no slower, with the budget (on an earlier, busier run both
servers took 70 s for the slowest answer). "After the queue" includes what dreaming the 20 jobs
left behind; "idle" includes the three models the looks were dreamed with."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", help="the name of this server's row (before, after...)")
    label = parser.parse_args().label
    store = BENCH / "crowd.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    if label:  # without one, CROWD.md is written again from crowd.json
        results[label] = measure()
        store.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(json.dumps(results[label], indent=1))
    (BENCH / "CROWD.md").write_text(report(results))


if __name__ == "__main__":
    main()
