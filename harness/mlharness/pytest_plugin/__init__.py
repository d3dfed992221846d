"""The mlharness pytest plugin (entry point `pytest11: mlharness`): a device matrix for Core ML update tests.

Options (group "mlharness device matrix"): `--mlh-devices FILE`, `--mlh-select EXPR`, `--mlh-report-dir DIR`,
`--mlh-ensemble N`, `--mlh-min-cells N`. A test that uses the `target` fixture runs once per selected cell of
the devices file and is marked `device`; `parity_case` runs a declared case on that cell and on the reference
(on a farm cell, packaged as XCTest and run on the farm's pool: see `farmcase`).
Without a devices file every device test is skipped with a reason that names the option to pass.
"""

from mlharness.pytest_plugin.cases import CaseOutcome, Expect, ParityCase
from mlharness.pytest_plugin.farmcase import FarmCellTarget
from mlharness.pytest_plugin.fixtures import (
    CellTarget,
    _mlh_cell_properties,
    _mlh_suite_properties,
    mlh_report_dir,
    mlh_settings,
    parity_case,
    target,
)
from mlharness.pytest_plugin.hooks import (
    pytest_addhooks,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_report_header,
    pytest_sessionfinish,
)

__all__ = [
    "CaseOutcome",
    "CellTarget",
    "Expect",
    "FarmCellTarget",
    "ParityCase",
    "_mlh_cell_properties",
    "_mlh_suite_properties",
    "mlh_report_dir",
    "mlh_settings",
    "parity_case",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_report_header",
    "pytest_sessionfinish",
    "target",
]
