"""Tables that show what a farm or a device said print it as it is: never as Rich markup."""

from __future__ import annotations

import io

from rich.console import Console

from mlharness.cli.farm import report_table
from mlharness.farms.devicefarm import FarmRow, FarmRunReport

MARKUP = "[/] [bold]not markup[/bold] [link=file:///etc/passwd]x[/link]"


def rendered(table: object) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(table)
    return out.getvalue()


def test_a_farm_run_named_or_ended_with_markup_is_printed_as_it_is() -> None:
    row = FarmRow("job-1", "aws", "pool", f"iPhone {MARKUP}", "iOS 18", "verified", MARKUP)
    report = FarmRunReport(run_name=f"nightly {MARKUP}", status=MARKUP, rows=[row])

    text = rendered(report_table(report))  # the title raised MarkupError: closing tag '[/]' has nothing to close

    assert f"nightly {MARKUP}" in text
    assert text.count(MARKUP) == 4  # the title holds it twice (name, status), the row's where and detail once each
