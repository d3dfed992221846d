"""A fake `companion-macos`, run as a real child process by tests/targets/test_mac.py.

`make_executable(folder, mode)` writes an executable script that behaves like the real one for the command
line `companion-macos JOB_DIR --out OUTBOX`: it prints the recorded progress lines, appends events to the live log
in `OUTBOX/.<job_id>.partial/events.jsonl`, and publishes a results bundle with mlupdate's ResultsWriter (DONE
last), or fails the way the real one does. No Core ML runs: the bundle says so in its device name.

Modes: succeed | refuse (exit 1 with a published refusal bundle) | refuse-silently (exit 1, no bundle) |
no-coreml (exit 2, the Linux build's message) | crash (events, then exit 134 without DONE) | hang.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "mac"
DEVICE = {
    "name": "fake companion-macos (test process, no Core ML ran)",
    "model": "Mac14,9",
    "os_name": "macOS",
    "os_version": "15.5",
    "os_build": "24F74",
    "is_simulator": False,
    "chip": "Apple M2 Pro",
    "host": None,
}


PRODUCER_JSON = {"name": "companion-macos", "version": "fake"}


def make_executable(folder: Path, mode: str) -> Path:
    """An executable `companion-macos` in `folder` that runs this module in `mode` with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "companion-macos"
    run = f"runpy.run_path({str(Path(__file__))!r}, run_name='__main__')"
    path.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv.insert(1, {mode!r})\n{run}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def _event(name: str, epoch: int | None, loss: float | None, t: float) -> str:
    return json.dumps({"task": 0, "event": name, "epoch": epoch, "mini_batch": None, "loss": loss, "t": t}) + "\n"


def main(argv: list[str]) -> int:
    mode, arguments = argv[0], argv[1:]
    if len(arguments) != 3 or arguments[1] != "--out":
        sys.stderr.write("usage: companion-macos JOB_DIR --out OUTBOX\n")
        return 2
    job_dir, outbox = Path(arguments[0]), Path(arguments[2])
    job_id = job_dir.name
    if mode == "no-coreml":
        sys.stderr.write((RECORDED / "companion-macos-no-coreml.stderr").read_text())
        return 2
    if mode.startswith("refuse"):
        message = (RECORDED / "companion-macos-refused.stderr").read_text()
        sys.stderr.write(message)
        if mode == "refuse":
            from mlupdate import contract as c
            from mlupdate.bundle import ResultsWriter

            error = c.RunError(c.RunPhase.LOAD, "org.mlupdate.companion", 0, message.strip())
            with ResultsWriter(outbox, job_id) as writer:
                task = c.TaskRecord(0, c.TaskStatus.FAILED, error)
                writer.finish(
                    c.TaskStatus.FAILED,
                    error,
                    c.DeviceInfo.from_json(DEVICE),
                    [task],
                    c.Producer.from_json(PRODUCER_JSON),
                )
        return 1
    partial = outbox / f".{job_id}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    lines = (RECORDED / "companion-macos-run.stdout").read_text().splitlines()
    events = [_event("trainingBegin", None, None, 0.0), _event("epochEnd", 0, 0.6931, 0.5)]
    with (partial / "events.jsonl").open("a", encoding="utf-8") as live:
        for line in lines[:5]:
            print(line, flush=True)
        for event in events:
            live.write(event)
            live.flush()
    if mode == "crash":
        sys.stderr.write("companion-macos: EXC_BAD_ACCESS (simulated)\n")
        return 134
    if mode == "hang":
        while True:
            time.sleep(1)
    for line in lines[5:]:
        print(line, flush=True)
    # Imported late: a hung or crashing run never needs them.
    from mlupdate import contract as c
    from mlupdate.bundle import ResultsWriter

    with ResultsWriter(outbox, job_id) as writer:
        lines_written = [*events, _event("completion", None, 0.5, 1.0)]
        writer.add_events([c.ProgressEvent.from_json(json.loads(line)) for line in lines_written])
        task = c.TaskRecord(
            0, c.TaskStatus.SUCCEEDED, epochs_completed=1, final_loss=0.5, task_state=c.TaskState.COMPLETED
        )
        final = writer.finish(
            c.TaskStatus.SUCCEEDED, None, c.DeviceInfo.from_json(DEVICE), [task], c.Producer.from_json(PRODUCER_JSON)
        )
    print(final, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
