"""One writer of the SIGKILL test, run as a child process: `python writer.py KIND OUT ARGS...`.

It imports everything first and prints `go` when it starts writing, so the test's kill lands in the writing and not
in the interpreter's start. KIND is one of: job, results, reference, reports.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(kind: str, out: str, *args: str) -> int:
    from mlharness.cli import main as cli
    from mlharness.runner import Deadlines, run_job
    from mlharness.targets.fake import FakeTarget, canned_app

    if kind == "results":
        job, device = args
        print("go", flush=True)
        run_job(
            FakeTarget(Path(device), app=canned_app, polls_to_finish=1),
            Path(job),
            Path(out),
            deadlines=Deadlines(poll_interval=0.0),
        )
        return 0
    argv = {
        "job": lambda model, seed: ["job", model, "-o", out, "--synthetic", "400", "--seed", seed, "--job-id", "kill"],
        "reference": lambda job: ["reference", job, "-o", out],
        "reports": lambda results, job, seed: [
            "parity",
            results,
            "--job",
            job,
            "--reference",
            results,
            "-o",
            out,
            "--xcode",
            f"run-{seed}",
            "--json",
        ],
    }[kind](*args)
    print("go", flush=True)
    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
