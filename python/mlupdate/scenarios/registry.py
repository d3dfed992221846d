"""Scenario registry and the value object a built scenario returns."""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlupdate.errors import InputError

if TYPE_CHECKING:
    from mlupdate.output_folder import OwnedOutput


@dataclass(frozen=True)
class ScenarioResult:
    """What `build_scenario` wrote: the shipped model, the job bundles, and a README saying what is real."""

    name: str
    folder: Path
    model: Path
    jobs: tuple[Path, ...]
    readme: Path
    facts: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    needs_real_models: bool

    def builder(self) -> Callable[[Path, Path | None], ScenarioResult]:
        build: Callable[[Path, Path | None], ScenarioResult] = importlib.import_module(
            f"mlupdate.scenarios.{self.name}"
        ).build
        return build


def default_real_models() -> Path | None:
    """$MLUPDATE_REAL_MODELS, else `../shared/fixtures/real-models` beside the checkout, if present."""
    override = os.environ.get("MLUPDATE_REAL_MODELS")
    if override:
        return Path(override)
    beside = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "real-models"
    return beside if beside.is_dir() else None


REGISTRY: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("stickers", "k-NN drawing classifier, three sketches per new sticker", True),
        Scenario("digits", "MNISTClassifier made updatable, 10 real digits per class, lr 0.02", True),
        Scenario("catdog", "CNN with its last two dense layers updatable, relabelled pictures", False),
        Scenario("lunch", "binary CNN, one photo retrained with the opposite label, then reset", False),
    )
}


SCENARIOS: tuple[str, ...] = tuple(REGISTRY)


def build_scenario(
    name: str, out_dir: str | os.PathLike[str], *, real_models: Path | None = None, force: bool = False
) -> ScenarioResult:
    """Build scenario `name` into `out_dir/<name>/`: written aside, swapped in when complete. An existing
    `out_dir/<name>` is replaced only if an earlier `scenario` build wrote it (or with `force`)."""
    if name not in REGISTRY:
        raise InputError(f"unknown scenario {name!r}", where="scenario", fix=f"choose one of {', '.join(SCENARIOS)}")
    scenario = REGISTRY[name]
    models = real_models if real_models is not None else default_real_models()
    if scenario.needs_real_models and (models is None or not models.is_dir()):
        raise InputError(
            f"the {name} scenario starts from the real MNISTClassifier model, which was not found",
            where=str(models) if models else "$MLUPDATE_REAL_MODELS",
            fix="check out ../shared beside the repository or set MLUPDATE_REAL_MODELS=<.../real-models>",
        )
    from mlupdate.output_folder import owned_output

    inputs = [models] if models is not None else []
    with owned_output(Path(out_dir) / name, command="scenario", force=force, inputs=inputs) as output:
        built = scenario.builder()(output.staging, models)
    return _moved(built, output)


def _moved(result: ScenarioResult, output: OwnedOutput) -> ScenarioResult:
    """The same result with its paths where the swap put them."""
    return dataclasses.replace(
        result,
        folder=output.final,
        model=output.final_path(result.model),
        jobs=tuple(output.final_path(job) for job in result.jobs),
        readme=output.final_path(result.readme),
    )
