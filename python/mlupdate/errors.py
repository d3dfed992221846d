"""Every error the device-free core raises.

Each error says what went wrong, where (file, field, layer) and how to fix it, so the CLI can print it
and exit 2 without a traceback::

    MlupdateError                    root; .what, .where, .fix
    ├── InputError                   a user's input cannot be used as given
    │   ├── ModelLoadError           missing, unreadable or non-Core ML model file
    │   ├── ModelBuildError          a model description or make-updatable request that cannot be built
    │   ├── ParameterError           unknown update parameter, or a value outside the model's range/set
    │   ├── DataError                training/probe data: unreadable image, bad label, NaN/Inf, empty set ...
    │   ├── OutputFolderError        an output folder a command may not replace (not its own, inside an input)
    │   └── BundleError              job or results bundle that cannot be trusted
    │       ├── SchemaError          job.json/results.json does not match the contract schema
    │       ├── UnsafePathError      absolute path, `..`, or a link inside a bundle
    │       ├── HashMismatchError    a file differs from the hash its manifest records
    │       ├── IncompleteBundleError  no DONE sentinel, wrong job id, or a file missing
    │       └── NotABundleError  another kind of path where a bundle goes (a model, a report, a folder of them)
    ├── ModelInvalidError            the model breaks Core ML's rules for updatable models (.issues)
    ├── UnsupportedError             a layer, model type or feature the reference cannot reproduce
    ├── TrainingError                training diverged (NaN/Inf) at a given epoch and mini-batch
    ├── CompiledModelError           a .mlmodelc that cannot be read back
    └── ParityError                  parity could not be computed (not: parity failed; that is a verdict)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MlupdateError(Exception):
    """Root of the tree. `what` is the problem, `where` the file/field/layer, `fix` one line of advice."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "what": self.what, "where": self.where, "fix": self.fix}

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable whatever the subclass's __init__ takes: errors cross process boundaries (parallel ensembles).
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[MlupdateError], args: tuple[Any, ...], state: dict[str, Any]) -> MlupdateError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InputError(MlupdateError):
    """A user's input cannot be used as given."""


class ModelLoadError(InputError):
    """The model file is missing, unreadable, truncated or not a Core ML model."""


class ModelBuildError(InputError):
    """A model description or a make-updatable request cannot be turned into a model."""


class ParameterError(InputError):
    """An update parameter is unknown for this model or outside its allowed range/set."""


class DataError(InputError):
    """Training or probe data that cannot be fed to the model as Core ML would."""


class OutputFolderError(InputError):
    """An output folder the command may not write: another's folder, a link, a file, inside an input."""


class BundleError(InputError):
    """A job or results bundle that cannot be trusted."""


class SchemaError(BundleError):
    """job.json or results.json does not match the contract schema."""


class UnsafePathError(BundleError):
    """A bundle entry is absolute, climbs out with `..`, or is a link."""


class HashMismatchError(BundleError):
    """A bundle file differs from the sha256 its manifest records."""


class IncompleteBundleError(BundleError):
    """A results bundle without its DONE sentinel, with another job's id, or with files missing."""


class NotABundleError(BundleError):
    """A path of another kind where a bundle goes: a model, a report, the other bundle, a folder of bundles."""


class ModelInvalidError(MlupdateError):
    """The model breaks one or more of Core ML's rules for updatable models."""

    def __init__(self, model: str, issues: Sequence[Any]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(
            f"not a valid updatable model ({len(self.issues)} problem(s)):\n{lines}",
            where=model,
            fix="fix each problem above (each names the rule and the fix), then run `mlharness validate` again",
        )


class UnsupportedError(MlupdateError):
    """A layer, model type or feature that the reference trainer or a reader cannot reproduce."""


class TrainingError(MlupdateError):
    """Training produced NaN or Inf; `epoch` and `mini_batch` say where it first appeared."""

    def __init__(
        self, what: str, *, epoch: int, mini_batch: int, where: str | None = None, fix: str | None = None
    ) -> None:
        self.epoch = epoch
        self.mini_batch = mini_batch
        super().__init__(f"{what} (epoch {epoch}, mini-batch {mini_batch})", where=where, fix=fix)


class CompiledModelError(MlupdateError):
    """A compiled model (.mlmodelc) that cannot be read back."""


class ParityError(MlupdateError):
    """Parity could not be computed at all. A failed comparison is a verdict, not this error."""
