"""Job and results bundles: the contract between the host and the companion app (docs/contract.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlupdate._lazy import lazy_exports

if TYPE_CHECKING:
    from mlupdate.bundle.job_reader import ExampleSetView as ExampleSetView
    from mlupdate.bundle.job_reader import JobBundle as JobBundle
    from mlupdate.bundle.job_reader import read_job as read_job
    from mlupdate.bundle.job_writer import write_job as write_job
    from mlupdate.bundle.results_reader import ResultsBundle as ResultsBundle
    from mlupdate.bundle.results_reader import read_results as read_results
    from mlupdate.bundle.results_writer import ResultsWriter as ResultsWriter

_EXPORTS = {
    "ExampleSetView": "job_reader",
    "JobBundle": "job_reader",
    "ResultsBundle": "results_reader",
    "ResultsWriter": "results_writer",
    "read_job": "job_reader",
    "read_results": "results_reader",
    "write_job": "job_writer",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
