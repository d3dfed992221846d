"""One corpus of hostile bundles through both readers: the Python reader (`mlupdate.bundle`) and the Swift reader
(CompanionKit, through `companion-cli verdicts`). Only the project's own errors may come out of either, and both
must give the same verdict on every bundle, and refuse it for the same rule (tests/data/contract/reasons.json
pairs each Python error class with the Swift error kinds of its rule).

Two parts: the hypothesis-generated corpus of the committed seeds (tests/data/fuzz/seeds.json; see
fuzz_corpus.py for the mutations) and a deterministic sweep setting every field of every golden manifest to the
values where JSON Schema and Swift's decoding part ways (1.0, 2**63, -1, "", null, ...).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlupdate.bundle import read_job, read_results
from mlupdate.errors import BundleError

from .fuzz_corpus import generate, sweep

DATA = Path(__file__).resolve().parents[1] / "data"
SEEDS = json.loads((DATA / "fuzz" / "seeds.json").read_text())
SAME_RULE: dict[str, list[str]] = json.loads((DATA / "contract" / "reasons.json").read_text())["same_rule"]
VERDICT_TIMEOUT = 600

pytestmark = pytest.mark.xdist_group("swift")


def python_verdict(folder: Path) -> dict[str, str]:
    """Read the bundle as a host does (and load every tensor, label and image it holds)."""
    case = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    try:
        if case["reader"] == "job":
            job = read_job(folder / "bundle")
            if job.job_id != case["job_id"]:  # the rule the results reader breaks with IncompleteBundleError
                return {"verdict": "refused", "kind": "IncompleteBundleError", "message": f"job id {job.job_id}"}
            for view in (job.training, job.probe):
                for feature in view.features if view is not None else ():
                    view.load(feature.name)
        else:
            results = read_results(folder / "bundle", case["job_id"])
            _ = results.parameters, results.probe_outputs
    except BundleError as exc:
        return {"verdict": "refused", "kind": type(exc).__name__, "message": exc.message}
    return {"verdict": "accepted"}


def compare(cli: Path, corpus: Path) -> None:
    # The Swift reader works through the corpus in its own process while this one reads it in Python.
    with subprocess.Popen(
        [str(cli), "verdicts", str(corpus)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as swift_process:
        python = {folder.name: python_verdict(folder) for folder in sorted(p for p in corpus.iterdir() if p.is_dir())}
        out, err = swift_process.communicate(timeout=VERDICT_TIMEOUT)
    lines = [json.loads(line) for line in out.split("\n") if line]
    stopped = lines[-1]["case"] if lines else "-"
    assert swift_process.returncode == 0, f"companion-cli stopped after case {stopped}: {err}"
    swift: dict[str, dict[str, Any]] = {line.pop("case"): line for line in lines}
    disagreements = []
    for name, ours in python.items():
        folder = corpus / name
        theirs = swift.get(name, {"verdict": "missing"})
        same_rule = ours["verdict"] == "accepted" or theirs.get("kind") in SAME_RULE.get(ours["kind"], [])
        if ours["verdict"] != theirs["verdict"] or not same_rule:
            what = json.loads((folder / "case.json").read_text(encoding="utf-8")).get("what", "")
            disagreements.append(f"{name} {what}: python {ours}, swift {theirs}")
    assert not disagreements, (
        f"{len(disagreements)} of {len(swift)} bundles judged differently (verdict or rule):\n"
        + "\n".join(disagreements[:20])
    )


def test_the_seeded_fuzz_corpus_gets_the_same_verdict_from_both_readers(
    companion_cli: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    corpus = tmp_path_factory.mktemp("fuzz-corpus")
    for seed in SEEDS["seeds"]:
        generate(corpus, seed, SEEDS["count"])
    assert len(list(corpus.iterdir())) == len(SEEDS["seeds"]) * SEEDS["count"]
    compare(companion_cli, corpus)


def test_every_golden_field_at_every_edge_value_gets_the_same_verdict_from_both_readers(
    companion_cli: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    corpus = tmp_path_factory.mktemp("field-sweep")
    made = sweep(corpus)
    assert len(made) > 1000
    compare(companion_cli, corpus)
