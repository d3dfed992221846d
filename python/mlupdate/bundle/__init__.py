"""Job and results bundles: the contract between the host and the companion app (docs/contract.md)."""

from mlupdate.bundle.job_reader import ExampleSetView, JobBundle, read_job
from mlupdate.bundle.job_writer import write_job
from mlupdate.bundle.results_reader import ResultsBundle, read_results
from mlupdate.bundle.results_writer import ResultsWriter

__all__ = [
    "ExampleSetView",
    "JobBundle",
    "ResultsBundle",
    "ResultsWriter",
    "read_job",
    "read_results",
    "write_job",
]
