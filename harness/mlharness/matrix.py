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
SELECT_KEYS = ("name", "kind", "feature")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DOCS = "see docs/ci.md for the devices.yaml format"


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

    @property
    def where(self) -> str:
        """Where the cell runs: `desk` (this host) or `remote <host:port>`."""
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
    unknown = sorted(str(key) for key in set(entry) - set(CELL_FIELDS))
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown}", where=where, fix=f"use only {list(CELL_FIELDS)}")
    name = _required(entry, "name", where)
    if not _NAME.match(name):
        raise ConfigError(
            f"name {name!r} is not a usable test id",
            where=f"{where}.name",
            fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
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


def discover_cells(cells: Sequence[DeviceCell], discover: Discover | None = None) -> tuple[CellStatus, ...]:
    """Availability of each cell, asking `mlharness.targets.discover_targets` unless `discover` is given.

    Discovery that cannot run at all (a tool missing or failing) makes every cell unavailable with that
    reason instead of failing: a test run must still show the cells. A bug in discovery still raises.
    """
    if not cells:
        return ()
    try:
        candidates = (discover or default_discover(remote_hosts(cells)))()
    except HarnessError as exc:
        return _all_unavailable(cells, f"target discovery failed: {exc.what}")
    return resolve_cells(cells, candidates)


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
