"""Job ids name the XCTest cases and attachments, and map back exactly."""

from __future__ import annotations

import pytest

from mlharness.xctest.names import attachment_name, case_identifier, case_name, is_results_attachment, job_id_for_case


@pytest.mark.parametrize("job_id", ["tictactoe-0001", "a", "Job_2.v1", "x" * 128])
def test_a_case_name_maps_back_to_its_job(job_id: str) -> None:
    assert case_name(job_id) == f"test_{job_id}"
    assert job_id_for_case(case_name(job_id)) == job_id
    assert job_id_for_case(case_identifier(job_id)) == job_id
    assert job_id_for_case(case_identifier(job_id) + "()") == job_id


@pytest.mark.parametrize("name", ["testFoo()", "RandomStuffTests/testExample()", "test_", "test_-bad", "test_a/b"])
def test_other_tests_are_not_jobs(name: str) -> None:
    assert job_id_for_case(name) is None


def test_exported_attachment_names_are_matched_with_xctests_suffix_only() -> None:
    uuid = "53E1C67A-8428-403B-A173-57C38BE9DA8B"
    assert is_results_attachment(f"{attachment_name('a')}_0_{uuid}.zip", "a")
    assert is_results_attachment(f"{attachment_name('a')}.zip", "a")
    assert is_results_attachment(attachment_name("a"), "a")
    assert not is_results_attachment(f"{attachment_name('a_b')}_0_{uuid}.zip", "a")
    assert not is_results_attachment(f"{attachment_name('a')}-extra.zip", "a")
    assert not is_results_attachment(f"Launch Screen_0_{uuid}.png", "a")
