"""The device matrix: `devices.yaml` loaded into validated `DeviceCell`s, selected, and matched against discovery.

A matrix file lists the cells a device suite runs on::

    devices:
      - name: sim-iphone16-ios18            # the test id, the xdist group and the report folder
        kind: simulator                     # simulator | device | devicectl | mac
        runtime: com.apple.CoreSimulator.SimRuntime.iOS-18-5
        devicetype: com.apple.CoreSimulator.SimDeviceType.iPhone-16
        features: [simulator]
      - name: dev-iphone15pro
        kind: device
        udid: ${MLH_DEVICE_UDID}            # from the environment; unset means "not available here"
        xfail: MLUpdateTask crashes on this OS build (FB0000000)
      - name: lab-ipad-ios18
        kind: device
        udid: 00008112-000C1D2E3F40801E
        host: lab-mac.local                 # served by `pymobiledevice3 remote tunneld` there (iOS 17+)
      - name: farm-top-ios
        farm: aws-device-farm               # a device pool of a farm: the case runs packaged as XCTest
        project_arn: arn:aws:devicefarm:us-west-2:123456789012:project:EXAMPLE
        device_pool_arn: arn:aws:devicefarm:us-west-2:123456789012:devicepool:EXAMPLE/POOL
        pool: top-ios                       # the pool's name in reports (default: the ARN's last part)
        deadline: 3600                      # seconds the farm run may take; it is stopped then

A farm cell is a `device` cell without a udid: discovery does not look for it, it is available when this host
has what a farm run needs (boto3, AWS credentials in the standard chain, xcodebuild to package the case).

Every cell stays in the matrix whatever the host has: a cell that discovery cannot find is reported as
unavailable with the reason, so a test run shows it as skipped instead of hiding it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from mlharness.errors import ConfigError, HarnessError
from mlharness.tunneld import TunneldHost, parse_tunneld_host

log = logging.getLogger(__name__)

Kind = Literal["simulator", "device", "devicectl", "mac"]
KINDS: tuple[Kind, ...] = ("simulator", "device", "devicectl", "mac")
# There is one Mac, the host: a `mac` cell needs no udid (discovery lists it as this one).
MAC_UDID = "local"
CELL_FIELDS = ("name", "kind", "udid", "host", "runtime", "devicetype", "features", "xfail")
FARM_FIELDS = ("farm", "project_arn", "device_pool_arn", "pool", "region", "deadline")
FARMS = ("aws-device-farm",)
DEFAULT_FARM_DEADLINE = 3600.0
SELECT_KEYS = ("name", "kind", "feature")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DOCS = "see docs/ci.md for the devices.yaml format"
_ARN = {
    "project_arn": re.compile(r"^arn:aws:devicefarm:([a-z0-9-]+):\d{12}:project:[A-Za-z0-9-]+$"),
    "device_pool_arn": re.compile(r"^arn:aws:devicefarm:([a-z0-9-]+):\d{12}:devicepool:[A-Za-z0-9-]+/[A-Za-z0-9-]+$"),
}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_FARM_DOCS = "see docs/scale.md for farm cells (aws devicefarm list-projects / list-device-pools give the ARNs)"


@dataclass(frozen=True)
class FarmPool:
    """A device pool of a farm: the farm's name, its ARNs, the pool's name for reports, the run's deadline."""

    farm: str
    project_arn: str
    device_pool_arn: str
    pool: str
    region: str
    deadline: float = DEFAULT_FARM_DEADLINE


@dataclass(frozen=True)
class DeviceCell:
    """One declared cell of the matrix. `udid_env` and `host_env` name the variables the udid and host came
    from, if any. A `host` means a remote device, served by pymobiledevice3's tunneld on that host."""

    name: str
    kind: Kind
    udid: str | None = None
    runtime: str | None = None
    devicetype: str | None = None
    features: frozenset[str] = frozenset()
    xfail: str | None = None
    udid_env: str | None = None
    host: TunneldHost | None = None
    host_env: str | None = None
    farm: FarmPool | None = None

    @property
    def where(self) -> str:
        """Where the cell runs: `desk` (this host), `remote <host:port>` or `farm <farm> · pool <pool>`."""
        if self.farm is not None:
            return f"farm {self.farm.farm} · pool {self.farm.pool}"
        return f"remote {self.host}" if self.host is not None else "desk"


@dataclass(frozen=True)
class Matrix:
    """A loaded devices file: where it came from and its cells, in file order."""

    source: Path
    cells: tuple[DeviceCell, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(cell.name for cell in self.cells)


@dataclass(frozen=True)
class CellStatus:
    """A cell after discovery: the udid it resolved to, and why it cannot be used when it cannot."""

    cell: DeviceCell
    udid: str | None
    available: bool
    reason: str = ""


class Candidate(Protocol):
    """What discovery reports for one target (`mlharness.targets.TargetCandidate` has this shape)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def udid(self) -> str: ...
    # Optional: `host` (a TunneldHost, or its `host:port` text) for devices served by a remote tunneld.
    @property
    def usable(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...


Discover = Callable[[], Sequence[Candidate]]


def load_matrix(path: Path, environ: Mapping[str, str] | None = None) -> Matrix:
    """Read and validate a devices file; `${VAR}` udids are resolved from `environ` (default: os.environ)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the devices file ({exc.strerror or exc})",
            where=str(path),
            fix="pass an existing file to --mlh-devices (tests/device/devices.yaml is an example)",
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", where=str(path), fix=_DOCS) from None
    return parse_matrix(document, path, os.environ if environ is None else environ)


def parse_matrix(document: object, source: Path, environ: Mapping[str, str]) -> Matrix:
    """Validate an already-parsed devices document."""
    if not isinstance(document, dict) or "devices" not in document:
        raise ConfigError(
            "expected a mapping with a `devices` list at the top", where=str(source), fix=f"add `devices:`; {_DOCS}"
        )
    extra = sorted(set(document) - {"devices"})
    if extra:
        raise ConfigError(f"unknown top-level key(s) {extra}", where=str(source), fix="the only key is `devices`")
    entries = document["devices"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("`devices` must be a non-empty list", where=f"{source}: devices", fix=_DOCS)
    cells = tuple(_parse_cell(entry, f"{source}: devices[{i}]", environ) for i, entry in enumerate(entries))
    _check_unique(cells, source)
    return Matrix(source=source, cells=cells)


def _parse_cell(entry: object, where: str, environ: Mapping[str, str]) -> DeviceCell:
    if not isinstance(entry, dict):
        raise ConfigError(f"each device must be a mapping, got {type(entry).__name__}", where=where, fix=_DOCS)
    if "farm" in entry:
        return _parse_farm_cell(entry, where)
    misplaced = sorted(str(key) for key in set(entry) & set(FARM_FIELDS))
    if misplaced:
        raise ConfigError(
            f"field(s) {misplaced} describe a farm cell, which needs `farm:`",
            where=f"{where}.{misplaced[0]}",
            fix=f"add `farm: {FARMS[0]}` or drop {misplaced}",
        )
    unknown = sorted(str(key) for key in set(entry) - set(CELL_FIELDS))
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown}", where=where, fix=f"use only {list(CELL_FIELDS)}")
    name = _name(entry, where)
    kind = _kind(entry.get("kind"), f"{where}.kind")
    udid, udid_env = _from_environment(entry.get("udid"), f"{where}.udid", environ)
    if kind == "mac" and "udid" not in entry:
        udid = MAC_UDID
    host, host_env = _host(entry.get("host"), f"{where}.host", kind, environ)
    runtime = _string(entry, "runtime", where)
    devicetype = _string(entry, "devicetype", where)
    _check_identity(kind, udid_env or udid, runtime, devicetype, where)
    return DeviceCell(
        name=name,
        kind=kind,
        udid=udid,
        runtime=runtime,
        devicetype=devicetype,
        features=_features(entry.get("features", []), f"{where}.features"),
        xfail=_string(entry, "xfail", where),
        udid_env=udid_env,
        host=host,
        host_env=host_env,
    )


def _name(entry: Mapping[str, Any], where: str) -> str:
    name = _required(entry, "name", where)
    if not _NAME.match(name):
        raise ConfigError(
            f"name {name!r} is not a usable test id",
            where=f"{where}.name",
            fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def _parse_farm_cell(entry: Mapping[str, Any], where: str) -> DeviceCell:
    """A device pool of a farm: a `device` cell that names no udid, host or simulator."""
    allowed = ("name", "kind", "features", "xfail", *FARM_FIELDS)
    for key in sorted(str(key) for key in entry):
        if key not in allowed:
            raise ConfigError(
                f"`{key}` does not apply to a farm cell (the farm picks the devices of its pool)",
                where=f"{where}.{key}",
                fix=f"drop `{key}`; a farm cell takes {list(allowed)}",
            )
    name = _name(entry, where)
    if entry.get("kind", "device") != "device":
        raise ConfigError(
            f"a farm cell runs on the pool's devices, not kind {entry.get('kind')!r}",
            where=f"{where}.kind",
            fix="drop `kind` or write `kind: device`",
        )
    farm = _required(entry, "farm", where)
    if farm not in FARMS:
        raise ConfigError(f"farm {farm!r} is not one of {list(FARMS)}", where=f"{where}.farm", fix=_FARM_DOCS)
    regions = {key: _arn(entry, key, where) for key in _ARN}
    region = _string(entry, "region", where) or regions["device_pool_arn"]
    if not _REGION.match(region) or set(regions.values()) != {region}:
        raise ConfigError(
            f"region {region!r} does not match the ARNs' region(s) {sorted(set(regions.values()))}",
            where=f"{where}.region",
            fix="drop `region` (the ARNs name it) or give the project and pool of one region",
        )
    pool_arn = str(entry["device_pool_arn"]).strip()
    pool = _string(entry, "pool", where) or pool_arn.rsplit("/", 1)[-1]
    return DeviceCell(
        name=name,
        kind="device",
        features=_features(entry.get("features", []), f"{where}.features"),
        xfail=_string(entry, "xfail", where),
        farm=FarmPool(
            farm=farm,
            project_arn=str(entry["project_arn"]).strip(),
            device_pool_arn=pool_arn,
            pool=pool,
            region=region,
            deadline=_deadline(entry.get("deadline", DEFAULT_FARM_DEADLINE), f"{where}.deadline"),
        ),
    )


def _arn(entry: Mapping[str, Any], key: str, where: str) -> str:
    """The region an ARN field names, after checking it is a Device Farm ARN of the right resource."""
    value = _required(entry, key, where)
    match = _ARN[key].match(value)
    if match is None:
        resource = "project" if key == "project_arn" else "devicepool"
        raise ConfigError(
            f"`{key}` {value!r} is not a Device Farm {resource} ARN",
            where=f"{where}.{key}",
            fix=f"expected arn:aws:devicefarm:<region>:<account>:{resource}:...; {_FARM_DOCS}",
        )
    return match.group(1)


def _deadline(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 60 <= value <= 86400:
        raise ConfigError(
            f"deadline must be seconds between 60 and 86400, got {value!r}", where=where, fix="e.g. `deadline: 3600`"
        )
    return float(value)


def _required(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = _string(entry, key, where)
    if value is None:
        raise ConfigError(f"`{key}` is required", where=where, fix=f"add `{key}: ...`; {_DOCS}")
    return value


def _string(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"`{key}` must be a non-empty string, got {value!r}", where=f"{where}.{key}", fix=_DOCS)
    return value.strip()


def _kind(value: object, where: str) -> Kind:
    if value not in KINDS:
        raise ConfigError(f"kind {value!r} is not one of {list(KINDS)}", where=where, fix="pick one of those kinds")
    return value


def _from_environment(value: object, where: str, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The value and, for `${VAR}`, the variable's name. An unset variable leaves the value None."""
    if value is None:
        return None, None
    if not isinstance(value, str) or not value.strip():
        field = where.rsplit(".", 1)[-1]
        raise ConfigError(f"{field} must be a non-empty string, got {value!r}", where=where, fix=_DOCS)
    reference = _ENV_REF.match(value.strip())
    if reference is None:
        return value.strip(), None
    variable = reference.group(1)
    resolved = environ.get(variable, "").strip()
    return (resolved or None), variable


def _host(value: object, where: str, kind: Kind, environ: Mapping[str, str]) -> tuple[TunneldHost | None, str | None]:
    if value is None:
        return None, None
    if kind != "device":
        raise ConfigError(
            f"`host` names a remote device served by pymobiledevice3's tunneld; a {kind} cell cannot have one",
            where=where,
            fix="use `kind: device` for a remote device, or drop `host`",
        )
    text, variable = _from_environment(value, where, environ)
    return (parse_tunneld_host(text, where=where) if text is not None else None), variable


def _check_identity(kind: Kind, udid: str | None, runtime: str | None, devicetype: str | None, where: str) -> None:
    if kind != "simulator":
        if runtime or devicetype:
            raise ConfigError(
                "`runtime`/`devicetype` only describe simulators", where=where, fix=f"give a {kind} cell a `udid`"
            )
        if udid is None:
            raise ConfigError(f"a {kind} cell needs a `udid`", where=where, fix="add `udid: <udid>` or `${VAR}`")
        return
    if udid is None and not (runtime and devicetype):
        raise ConfigError(
            "a simulator cell needs a `udid`, or both `runtime` and `devicetype`",
            where=where,
            fix="add `udid:` or `runtime:` + `devicetype:` (see `xcrun simctl list runtimes`)",
        )


def _features(value: object, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"features must be a list of strings, got {value!r}", where=where, fix="e.g. [ane, ios18]")
    return frozenset(value)


def _check_unique(cells: Sequence[DeviceCell], source: Path) -> None:
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        if cell.name in seen:
            raise ConfigError(
                f"device name {cell.name!r} appears twice",
                where=f"{source}: devices[{index}].name",
                fix="names are test ids and must be unique",
            )
        seen.add(cell.name)


def select_cells(matrix: Matrix, expression: str | None) -> tuple[DeviceCell, ...]:
    """Cells matching a comma-separated selection: names, `kind=K`, `feature=F`, `name=N` (any term matches)."""
    if expression is None or not expression.strip():
        return matrix.cells
    terms = [term.strip() for term in expression.split(",") if term.strip()]
    for term in terms:
        _check_term(term, matrix)
    return tuple(cell for cell in matrix.cells if any(_matches(cell, term) for term in terms))


def _check_term(term: str, matrix: Matrix) -> None:
    key, _, value = term.partition("=") if "=" in term else ("name", "=", term)
    key = key.strip()
    if key not in SELECT_KEYS:
        raise ConfigError(
            f"unknown selection key {key!r} in {term!r}",
            where="--mlh-select",
            fix=f"use a cell name or one of {[f'{k}=...' for k in SELECT_KEYS]}",
        )
    if key == "name" and value.strip() not in matrix.names():
        raise ConfigError(
            f"no cell named {value.strip()!r} in {matrix.source}",
            where="--mlh-select",
            fix=f"pick from {list(matrix.names())}",
        )
    if key == "kind" and value.strip() not in KINDS:
        raise ConfigError(f"kind {value.strip()!r} is unknown", where="--mlh-select", fix=f"use one of {list(KINDS)}")


def _matches(cell: DeviceCell, term: str) -> bool:
    key, _, value = term.partition("=") if "=" in term else ("name", "=", term)
    key, value = key.strip(), value.strip()
    if key == "kind":
        return cell.kind == value
    if key == "feature":
        return value in cell.features
    return cell.name == value


def resolve_cells(cells: Iterable[DeviceCell], candidates: Sequence[Candidate]) -> tuple[CellStatus, ...]:
    """Match each cell against what discovery found; cells without a usable match say why."""
    return tuple(_resolve(cell, candidates) for cell in cells)


def _resolve(cell: DeviceCell, candidates: Sequence[Candidate]) -> CellStatus:
    if cell.udid is None and cell.udid_env is not None:
        return CellStatus(cell, None, False, f"udid comes from ${{{cell.udid_env}}}, which is not set on this host")
    if cell.host is None and cell.host_env is not None:
        return CellStatus(cell, cell.udid, False, f"host comes from ${{{cell.host_env}}}, which is not set here")
    # A remote cell matches only what its host's tunneld serves; a local cell only what this host sees.
    wanted_host = str(cell.host) if cell.host is not None else None
    same_kind = [c for c in candidates if c.kind == cell.kind and candidate_host(c) == wanted_host]
    match = _find(cell, same_kind)
    if match is None:
        return CellStatus(cell, cell.udid, False, _not_found(cell, same_kind))
    if not match.usable:
        return CellStatus(cell, match.udid, False, f"{cell.kind} {match.udid} is not usable: {match.reason}")
    return CellStatus(cell, match.udid, True)


def _find(cell: DeviceCell, candidates: Sequence[Candidate]) -> Candidate | None:
    for candidate in candidates:
        if cell.udid is not None:
            if candidate.udid.lower() == cell.udid.lower():
                return candidate
        elif _attribute(candidate, "runtime") == cell.runtime and cell.devicetype == _attribute(
            candidate, "devicetype", "device_type"
        ):
            return candidate
    return None


def candidate_host(candidate: Candidate) -> str | None:
    """The `host:port` of the tunneld serving a candidate, None for a target of this host."""
    host = getattr(candidate, "host", None)
    return str(host) if host is not None else None


def remote_hosts(cells: Iterable[DeviceCell]) -> tuple[TunneldHost, ...]:
    """The tunneld hosts the cells name, each once, in file order."""
    return tuple(dict.fromkeys(cell.host for cell in cells if cell.host is not None))


def _attribute(candidate: Candidate, *names: str) -> str | None:
    # Simulators discovered here carry `runtime` and `devicetype`; candidates from the discovery hook may spell
    # the latter `device_type`, and other kinds have neither.
    for name in names:
        value = getattr(candidate, name, None)
        if isinstance(value, str):
            return value
    return None


def _not_found(cell: DeviceCell, same_kind: Sequence[Candidate]) -> str:
    wanted = f"udid {cell.udid}" if cell.udid else f"runtime {cell.runtime}, devicetype {cell.devicetype}"
    if cell.host is not None:
        served = f"{len(same_kind)} device(s)" if same_kind else "no device"
        return f"tunneld at {cell.host} serves {served}, not {wanted}"
    if not same_kind:
        return f"no {cell.kind} target found on this host (looking for {wanted})"
    return f"{cell.kind} with {wanted} not found among {len(same_kind)} discovered {cell.kind} target(s)"


def discover_cells(
    cells: Sequence[DeviceCell], discover: Discover | None = None, farm_check: FarmCheck | None = None
) -> tuple[CellStatus, ...]:
    """Availability of each cell, asking `mlharness.targets.discover_targets` unless `discover` is given; a farm
    cell is available when `farm_check` (default: `mlharness.farms.prerequisites`) finds nothing missing.

    Discovery that cannot run at all (a tool missing or failing) makes every cell unavailable with that
    reason instead of failing: a test run must still show the cells. A bug in discovery still raises.
    """
    if not cells:
        return ()
    farm = {cell.name: _farm_status(cell, farm_check or default_farm_check) for cell in cells if cell.farm}
    devices = [cell for cell in cells if cell.farm is None]
    found: dict[str, CellStatus] = {}
    if devices:
        try:
            candidates = (discover or default_discover(remote_hosts(devices)))()
        except HarnessError as exc:
            found = {s.cell.name: s for s in _all_unavailable(devices, f"target discovery failed: {exc.what}")}
        else:
            found = {status.cell.name: status for status in resolve_cells(devices, candidates)}
    return tuple(farm.get(cell.name) or found[cell.name] for cell in cells)


# What a farm cell lacks on this host, each as a reason ("boto3 is not installed", ...); empty when it can run.
FarmCheck = Callable[[FarmPool], Sequence[str]]


def default_farm_check(pool: FarmPool) -> Sequence[str]:
    # Imported late, like discovery: a matrix without farm cells never imports the farm code.
    from mlharness.farms.prerequisites import missing_prerequisites

    return missing_prerequisites(pool)


def _farm_status(cell: DeviceCell, check: FarmCheck) -> CellStatus:
    assert cell.farm is not None
    missing = check(cell.farm)
    if missing:
        return CellStatus(cell, None, False, f"{cell.where} needs what this host lacks: " + "; ".join(missing))
    return CellStatus(cell, None, True)


def default_discover(hosts: Sequence[TunneldHost] = ()) -> Discover:
    """`mlharness.targets.discover_targets`, also asking the tunneld of every host in `hosts`."""

    def discover() -> Sequence[Candidate]:
        # Imported late: a test session without a device matrix never pays for the targets package's imports.
        from mlharness.targets import discover_targets

        return discover_targets(tunneld=hosts)

    return discover


def _all_unavailable(cells: Sequence[DeviceCell], reason: str) -> tuple[CellStatus, ...]:
    log.warning("%s; %d device cell(s) will be skipped", reason, len(cells))
    return tuple(CellStatus(cell, cell.udid, False, reason) for cell in cells)
