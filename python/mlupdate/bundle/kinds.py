"""What a path given on the command line is, so that the wrong kind of path gets an error saying what was
given, what was expected, and which path to pass instead (a model where a job bundle goes, a scenario
folder instead of its job, swapped `parity` arguments, a report folder for a results bundle, a bundle where a
model goes).

Only the entries of the path itself (and of a few levels of sub-folders, looking for bundles) are looked at:
nothing is read or trusted here; the readers still check everything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from mlupdate.contract import DONE, JOB_MANIFEST, MODEL_DIR, RESULTS_MANIFEST
from mlupdate.errors import IncompleteBundleError, ModelLoadError, NotABundleError

REPORT_FILE = "report.json"
_MODEL_SUFFIXES = (".mlmodel", ".mlpackage", ".mlmodelc")
# Both bundles are folders with manifests, so `mlharness parity RESULTS --job JOB` is easy to give the other way.
_PARITY_ORDER = "with `mlharness parity` the results come first and the job after --job: they may be swapped"
# How deep to look for bundles inside a folder (scenario/<name>/job/<job_id> is three levels down), and how
# many folders to look at in all, so a path to a large tree answers at once.
_SEARCH_DEPTH = 3
_SEARCH_FOLDERS = 200


class PathKind(enum.Enum):
    MISSING = "nothing: no such file or folder"
    JOB_BUNDLE = "a job bundle (a folder with job.json)"
    RESULTS_BUNDLE = "a results bundle (a folder with results.json and DONE)"
    REPORT = "a parity report folder (a folder with report.json)"
    MODEL = "a Core ML model (.mlmodel, .mlpackage or compiled .mlmodelc)"
    FILE = "a file"
    FOLDER = "a folder"


@dataclass(frozen=True)
class Identified:
    path: Path
    kind: PathKind
    jobs: tuple[Path, ...] = ()  # job bundles inside a folder
    results: tuple[Path, ...] = ()  # results bundles inside a folder

    def describe(self) -> str:
        inside = []
        if self.jobs:
            inside.append(f"the job bundle{'s' if len(self.jobs) > 1 else ''} {_listing(self.jobs)}")
        if self.results:
            inside.append(f"the results bundle{'s' if len(self.results) > 1 else ''} {_listing(self.results)}")
        if self.kind is PathKind.FOLDER and not inside:
            return "a folder with no bundle or report in it"
        return self.kind.value + (f" that holds {' and '.join(inside)}" if inside else "")


def identify(path: Path) -> Identified:
    """What `path` is, from the names of its entries alone."""
    if not path.exists() and not path.is_symlink():
        return Identified(path, PathKind.MISSING)
    if path.suffix in _MODEL_SUFFIXES:
        return Identified(path, PathKind.MODEL)
    if not path.is_dir():
        return Identified(path, PathKind.FILE)
    if (path / JOB_MANIFEST).is_file():
        return Identified(path, PathKind.JOB_BUNDLE)
    if (path / RESULTS_MANIFEST).is_file() or (path / DONE).is_file():
        return Identified(path, PathKind.RESULTS_BUNDLE)
    if (path / REPORT_FILE).is_file():
        return Identified(path, PathKind.REPORT)
    jobs, results = _bundles_below(path)
    return Identified(path, PathKind.FOLDER, jobs, results)


def expect_job_bundle(path: Path) -> None:
    """Refuse a path that is positively not a job bundle, naming what it is and what to pass instead."""
    _expect(identify(path), PathKind.JOB_BUNDLE, "a job bundle folder (one with job.json)")


def expect_results_bundle(path: Path) -> None:
    """Refuse a path that is positively not a results bundle, naming what it is and what to pass instead."""
    _expect(identify(path), PathKind.RESULTS_BUNDLE, "a results bundle folder (one with results.json and DONE)")


def _expect(found: Identified, wanted: PathKind, expected: str) -> None:
    if found.kind is wanted:
        return
    where = str(found.path)
    if found.kind is PathKind.MISSING:
        raise IncompleteBundleError(
            f"no such bundle folder; expected {expected}",
            where=where,
            fix="check the path, or wait until it is written",
        )
    if found.kind is PathKind.FOLDER and not (found.jobs or found.results):
        return  # a folder of unknown content: the reader says what is missing from it
    raise NotABundleError(f"this is {found.describe()}; expected {expected}", where=where, fix=_fix(found, wanted))


def _fix(found: Identified, wanted: PathKind) -> str:
    inside = found.jobs if wanted is PathKind.JOB_BUNDLE else found.results
    if len(inside) == 1:
        return f"pass {inside[0]}"
    if inside:
        return f"pass one of them, e.g. {inside[0]}"
    if found.kind is PathKind.MODEL and wanted is PathKind.JOB_BUNDLE:
        return "make a job bundle from the model first: mlharness job MODEL -o DIR (then pass DIR/<job_id>)"
    if found.kind is PathKind.MODEL and wanted is PathKind.RESULTS_BUNDLE:
        return "a model your app trained is judged with `mlharness parity --model MODEL --job JOB`"
    if found.kind is PathKind.RESULTS_BUNDLE and wanted is PathKind.JOB_BUNDLE:
        return f"pass the job bundle these results came from ({_PARITY_ORDER})"
    if found.kind is PathKind.JOB_BUNDLE and wanted is PathKind.RESULTS_BUNDLE:
        return f"pass results pulled by `mlharness run` or written by `mlharness reference` ({_PARITY_ORDER})"
    if found.kind is PathKind.REPORT:
        return "a report is read by `mlharness report`; here pass the bundle the report was made from"
    return "check the path"


def not_a_model(path: Path) -> ModelLoadError:
    """The error for a folder given where a model goes: what the folder is and, when it holds a bundle, the
    model inside it to pass instead (a job bundle's model, a results bundle's trained model)."""
    found = identify(path)
    bundles = (path,) if found.kind in (PathKind.JOB_BUNDLE, PathKind.RESULTS_BUNDLE) else found.jobs + found.results
    models = [model for bundle in bundles for model in _models_in(bundle / MODEL_DIR)]
    if len(models) == 1:
        fix = f"pass the model inside it: {models[0]}"
    elif models:
        fix = f"pass one of the models inside it, e.g. {models[0]}"
    else:
        fix = "pass a .mlmodel file or an .mlpackage folder"
    if models and models[0].suffix == ".mlmodelc":
        fix += " (compiled: `mlharness inspect` reads it; the other commands need the .mlmodel it was compiled from)"
    return ModelLoadError(
        f"this is {found.describe()}; expected a Core ML model (a .mlmodel file or an .mlpackage folder)",
        where=str(path),
        fix=fix,
    )


def _models_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix in _MODEL_SUFFIXES and not p.is_symlink())
    except OSError:
        return []


def _bundles_below(root: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    jobs: list[Path] = []
    results: list[Path] = []
    level = [root]
    seen = 0
    for _ in range(_SEARCH_DEPTH):
        following: list[Path] = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            for child in children:
                seen += 1
                if seen > _SEARCH_FOLDERS:
                    return tuple(jobs), tuple(results)
                if (child / JOB_MANIFEST).is_file():
                    jobs.append(child)
                elif (child / RESULTS_MANIFEST).is_file():
                    results.append(child)
                else:
                    following.append(child)
        if jobs or results:
            break
        level = following
    return tuple(jobs), tuple(results)


def _listing(paths: tuple[Path, ...]) -> str:
    shown = ", ".join(str(p) for p in paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
