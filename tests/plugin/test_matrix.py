"""devices.yaml validation, selection, and matching cells against what discovery found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mlharness.errors import ConfigError, ToolError
from mlharness.matrix import DeviceCell, discover_cells, load_matrix, parse_matrix, resolve_cells, select_cells

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path("devices.yaml")


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str
    udid: str
    usable: bool
    reason: str


def parse(document: object, **environ: str):  # type: ignore[no-untyped-def]
    return parse_matrix(document, SOURCE, environ)


def sim(name: str = "sim-a", **fields: object) -> dict[str, object]:
    return {"name": name, "kind": "simulator", "udid": "SIM-1", **fields}


def test_example_matrix_in_the_repo_loads_with_a_simulator_a_device_and_a_mac_cell() -> None:
    matrix = load_matrix(REPO / "tests" / "device" / "devices.yaml", environ={})
    assert {cell.kind for cell in matrix.cells} == {"simulator", "device", "mac"}
    (mac,) = [cell for cell in matrix.cells if cell.kind == "mac"]
    assert mac.udid == "local"  # the host itself: no udid to configure


def test_cells_keep_file_order_and_fields() -> None:
    matrix = parse(
        {
            "devices": [
                sim("sim-a", features=["simulator"]),
                {"name": "dev-b", "kind": "device", "udid": "0000-1", "xfail": "crashes on 18.0"},
            ]
        }
    )
    assert matrix.names() == ("sim-a", "dev-b")
    assert matrix.cells[0].features == frozenset({"simulator"})
    assert matrix.cells[1].xfail == "crashes on 18.0"


@pytest.mark.parametrize(
    ("document", "where", "what"),
    [
        ([], "devices.yaml", "a `devices` list"),
        ({"devices": []}, "devices.yaml: devices", "non-empty list"),
        ({"devices": [], "targets": 1}, "devices.yaml", "unknown top-level key(s) ['targets']"),
        ({"devices": ["sim"]}, "devices[0]", "must be a mapping"),
        ({"devices": [sim(colour="red")]}, "devices[0]", "unknown field(s) ['colour']"),
        ({"devices": [{"kind": "simulator", "udid": "x"}]}, "devices[0]", "`name` is required"),
        ({"devices": [sim("has space")]}, "devices[0].name", "not a usable test id"),
        ({"devices": [sim(kind="emulator")]}, "devices[0].kind", "'emulator' is not one of"),
        ({"devices": [sim(udid=12)]}, "devices[0].udid", "non-empty string"),
        ({"devices": [sim(features="ane")]}, "devices[0].features", "list of strings"),
        ({"devices": [{"name": "d", "kind": "device"}]}, "devices[0]", "a device cell needs a `udid`"),
        ({"devices": [{"name": "d", "kind": "devicectl", "udid": "x", "runtime": "r"}]}, "devices[0]", "only describe"),
        ({"devices": [{"name": "s", "kind": "simulator", "runtime": "r"}]}, "devices[0]", "both `runtime`"),
        ({"devices": [sim("a"), sim("a")]}, "devices[1].name", "appears twice"),
    ],
)
def test_invalid_matrix_names_the_field_and_the_problem(document: object, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(document)
    assert where in (caught.value.where or "")
    assert what in caught.value.what
    assert caught.value.fix


def test_invalid_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "devices.yaml"
    broken.write_text("devices: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_matrix(broken)
    with pytest.raises(ConfigError, match="cannot read the devices file"):
        load_matrix(tmp_path / "absent.yaml")


def test_udid_from_environment_is_resolved_or_left_unset() -> None:
    document = {"devices": [sim(udid="${SIM_UDID}")]}
    assert parse(document, SIM_UDID="ABC").cells[0].udid == "ABC"
    unset = parse(document).cells[0]
    assert (unset.udid, unset.udid_env) == (None, "SIM_UDID")


def test_selection_by_name_kind_and_feature_is_a_union() -> None:
    matrix = parse(
        {
            "devices": [
                sim("sim-a"),
                sim("sim-b", features=["ane"]),
                {"name": "dev-c", "kind": "device", "udid": "1"},
            ]
        }
    )
    assert [c.name for c in select_cells(matrix, "kind=simulator")] == ["sim-a", "sim-b"]
    assert [c.name for c in select_cells(matrix, "dev-c, feature=ane")] == ["sim-b", "dev-c"]
    assert select_cells(matrix, None) == matrix.cells
    assert select_cells(matrix, "kind=devicectl") == ()


@pytest.mark.parametrize(("expression", "what"), [("os=18", "unknown selection key"), ("nope", "no cell named")])
def test_bad_selection_is_a_config_error(expression: str, what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        select_cells(parse({"devices": [sim()]}), expression)


def test_resolve_matches_udid_case_insensitively_and_only_within_the_kind() -> None:
    cells = (
        DeviceCell("sim", "simulator", udid="abc"),
        DeviceCell("dev", "device", udid="abc"),
        DeviceCell("ctl", "devicectl", udid="abc"),
    )
    found = [Candidate("iPhone 16", "simulator", "ABC", True, ""), Candidate("phone", "device", "ABC", False, "locked")]
    sim_status, dev_status, ctl_status = resolve_cells(cells, found)
    assert (sim_status.available, sim_status.udid) == (True, "ABC")
    assert (dev_status.available, dev_status.reason) == (False, "device ABC is not usable: locked")
    assert ctl_status.reason == "no devicectl target found on this host (looking for udid abc)"


def test_resolve_explains_a_udid_missing_among_other_targets() -> None:
    (status,) = resolve_cells([DeviceCell("sim", "simulator", udid="X")], [Candidate("a", "simulator", "Y", True, "")])
    assert status.reason == "simulator with udid X not found among 1 discovered simulator target(s)"


def test_resolve_by_runtime_and_devicetype_when_discovery_reports_them() -> None:
    @dataclass(frozen=True)
    class SimCandidate(Candidate):
        runtime: str = "iOS-18-5"
        devicetype: str = "iPhone-16"

    cell = DeviceCell("sim", "simulator", runtime="iOS-18-5", devicetype="iPhone-16")
    (status,) = resolve_cells([cell], [SimCandidate("iPhone 16", "simulator", "U1", True, "")])
    assert (status.available, status.udid) == (True, "U1")
    (other,) = resolve_cells([cell], [Candidate("iPhone 16", "simulator", "U1", True, "")])
    assert not other.available

    @dataclass(frozen=True)
    class SnakeCaseCandidate(Candidate):
        runtime: str = "iOS-18-5"
        device_type: str = "iPhone-16"

    (snake,) = resolve_cells([cell], [SnakeCaseCandidate("iPhone 16", "simulator", "U2", True, "")])
    assert snake.udid == "U2"


def test_discovery_failures_make_every_cell_unavailable_instead_of_raising() -> None:
    cells = (DeviceCell("sim", "simulator", udid="X"), DeviceCell("dev", "device", udid="Y"))

    def broken() -> list[Candidate]:
        raise ToolError(["xcrun", "simctl", "list"], 72, "xcrun: error: unable to find utility")

    statuses = discover_cells(cells, broken)
    assert [s.available for s in statuses] == [False, False]
    assert all(s.reason.startswith("target discovery failed: exited with code 72") for s in statuses)


def test_discovery_is_not_asked_when_no_cell_is_selected() -> None:
    def never() -> list[Candidate]:
        raise AssertionError("discovery ran for an empty selection")

    assert discover_cells((), never) == ()


def remote(name: str = "lab-ipad", **fields: object) -> dict[str, object]:
    return {"name": name, "kind": "device", "udid": "0000-R", "host": "lab-mac.local", **fields}


def test_a_remote_cell_names_its_tunneld_host() -> None:
    cell = parse({"devices": [remote(host="192.168.1.20:6000")]}).cells[0]
    assert str(cell.host) == "192.168.1.20:6000"
    assert cell.where == "remote 192.168.1.20:6000"
    assert DeviceCell("sim", "simulator", udid="X").where == "desk"


@pytest.mark.parametrize(
    ("fields", "where", "what"),
    [
        ({"kind": "simulator"}, "devices[0].host", "a simulator cell cannot have one"),
        ({"kind": "devicectl"}, "devices[0].host", "a devicectl cell cannot have one"),
        ({"host": "lab-mac.local:99999"}, "devices[0].host", "not a TCP port"),
        ({"host": 49151}, "devices[0].host", "host must be a non-empty string"),
        ({"udid": None}, "devices[0]", "a device cell needs a `udid`"),
    ],
)
def test_a_bad_remote_cell_names_the_field(fields: dict[str, object], where: str, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"devices": [remote(**fields)]})
    assert where in (caught.value.where or "")
    assert what in caught.value.what


def test_a_host_from_an_unset_variable_makes_the_cell_unavailable_and_says_which() -> None:
    document = {"devices": [remote(host="${LAB_HOST}")]}
    assert str(parse(document, LAB_HOST="lab-mac.local").cells[0].host) == "lab-mac.local:49151"
    (status,) = resolve_cells(parse(document).cells, [])
    assert not status.available
    assert "${LAB_HOST}" in status.reason


def test_a_remote_cell_matches_only_what_its_host_serves() -> None:
    @dataclass(frozen=True)
    class Served(Candidate):
        host: str | None = None

    local = DeviceCell("desk-phone", "device", udid="SAME")
    lab = parse({"devices": [remote(udid="SAME")]}).cells[0]
    other = parse({"devices": [remote(udid="SAME", host="other-mac.local")]}).cells[0]
    found = [
        Served("phone", "device", "SAME", True, "local USB"),
        Served("SAME", "device", "SAME", True, "served", host="lab-mac.local:49151"),
    ]

    desk, served, elsewhere = resolve_cells([local, lab, other], found)

    assert desk.available and served.available
    assert not elsewhere.available
    assert elsewhere.reason == "tunneld at other-mac.local:49151 serves no device, not udid SAME"
    (local_only,) = resolve_cells([local], found[1:])
    assert not local_only.available, "a device served elsewhere is not a device on this desk"


def test_default_discovery_asks_the_tunneld_of_every_remote_host_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlharness.targets

    asked: list[object] = []

    def discover_targets(*, tunneld: object = ()) -> list[Candidate]:
        asked.append(tuple(str(h) for h in tunneld))  # type: ignore[attr-defined]
        return []

    monkeypatch.setattr(mlharness.targets, "discover_targets", discover_targets)
    matrix = parse({"devices": [remote("a"), remote("b", udid="0000-S"), sim()]})

    discover_cells(matrix.cells)

    assert asked == [("lab-mac.local:49151",)]
