"""Remote devices: a device that `pymobiledevice3 remote tunneld` serves on another host, used like a local one.

The target's decisions run against the fake DevicePort (tests/targets/conftest.py); the port's own remote
plumbing runs against pymobiledevice3's tunneld API replaced by fakes of the same signatures, fed with the
listing format tunneld serves (tests/data/recorded/tunneld/list.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlharness.errors import ConfigError, TargetError, TargetUnavailable
from mlharness.process import ScriptedRunner
from mlharness.targets import Host, discover, open_target
from mlharness.targets.device import DeveloperChannel, DeviceTarget, choose_channel
from mlharness.targets.pmd3 import Pmd3Port, served_udids
from mlharness.tunneld import DEFAULT_PORT, TunneldHost, parse_tunneld_host

UDID = "00008130-001A2B3C4D5E6F70"
LAB = TunneldHost("lab-mac.local")
RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "tunneld"


class NoUsb:
    """This host sees no USB device: everything found must come from the remote host."""

    def list_udids(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


def linux_host(remote_port: Any) -> Host:
    return Host(runner=ScriptedRunner({}), device_port=NoUsb, is_mac=False, has_xcrun=False, remote_port=remote_port)


@pytest.mark.parametrize(
    ("text", "host", "port", "label"),
    [
        ("lab-mac.local", "lab-mac.local", DEFAULT_PORT, "lab-mac.local:49151"),
        ("Lab-Mac.local:5000", "lab-mac.local", 5000, "lab-mac.local:5000"),
        ("192.168.1.20:49151", "192.168.1.20", 49151, "192.168.1.20:49151"),
        ("[fe80::1]:6000", "fe80::1", 6000, "[fe80::1]:6000"),
        ("fd00::2", "fd00::2", DEFAULT_PORT, "[fd00::2]:49151"),
    ],
)
def test_a_tunneld_host_is_host_or_host_and_port(text: str, host: str, port: int, label: str) -> None:
    parsed = parse_tunneld_host(text, where="devices.yaml: devices[0].host")
    assert (parsed.host, parsed.port, str(parsed)) == (host, port, label)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("http://lab-mac.local", "not a host name"),
        ("lab-mac.local:", "not a TCP port"),
        ("lab-mac.local:70000", "not a TCP port"),
        ("lab mac", "not a host name"),
        ("[fe80::1", "not a host name"),
        ("lab..mac", "not a host name"),
    ],
)
def test_a_bad_tunneld_host_names_the_field_and_the_forms(text: str, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tunneld_host(text, where="devices.yaml: devices[0].host")
    assert what in caught.value.what
    assert caught.value.where == "devices.yaml: devices[0].host"
    assert "HOST:PORT" in (caught.value.fix or "")


def test_a_remote_device_always_uses_its_tunnel_and_needs_ios_17() -> None:
    assert choose_channel("17.0", tunneld_running=False, remote=LAB) is DeveloperChannel.TUNNELD
    assert choose_channel("26.5", tunneld_running=False, remote=LAB) is DeveloperChannel.TUNNELD
    with pytest.raises(TargetUnavailable) as caught:
        choose_channel("16.7.10", tunneld_running=True, remote=LAB)
    assert "tunneld at lab-mac.local:49151" in (caught.value.where or "")
    assert "iOS 17" in caught.value.what


def test_a_remote_session_runs_a_job_like_a_local_device(make_port: Any, tmp_path: Path, job_dir: Path) -> None:
    port = make_port(tmp_path / "device", os_version="17.4", tunneld=False)
    target = DeviceTarget(UDID, port, remote=LAB)
    outbox = tmp_path / "device" / "Documents" / "outbox" / "tictactoe-0001"

    with target.session():
        info = target.info()
        target.install(tmp_path / "MLHarnessCompanion.app")
        target.push_job(job_dir, "tictactoe-0001")
        target.launch("tictactoe-0001", arguments=["--job", "tictactoe-0001"], environment={})
        outbox.mkdir(parents=True)
        (outbox / "DONE").write_text("tictactoe-0001\n", encoding="utf-8")
        assert target.poll("tictactoe-0001").done
        pulled = target.pull_results("tictactoe-0001", tmp_path / "out")
        target.cleanup("tictactoe-0001")

    assert info.host == "lab-mac.local:49151"
    assert port.channel is DeveloperChannel.TUNNELD, "a remote device never takes the userspace tunnel"
    assert port.calls[:3] == ["connect", "mount", "install MLHarnessCompanion.app"]
    assert (pulled / "DONE").is_file()
    assert (tmp_path / "device" / "Documents" / "inbox").is_dir()


def test_a_remote_ios_16_device_is_refused_before_its_image_is_mounted(make_port: Any, tmp_path: Path) -> None:
    port = make_port(tmp_path, os_version="16.7.10")

    with pytest.raises(TargetUnavailable, match="iOS 17"), DeviceTarget(UDID, port, remote=LAB).session():
        pass

    assert port.calls == ["connect", "close"]


def test_a_local_device_has_no_host(make_port: Any, tmp_path: Path) -> None:
    with DeviceTarget(UDID, make_port(tmp_path)).session() as target:
        assert target.info().host is None


def test_discovery_lists_remote_devices_with_their_host(make_port: Any, tmp_path: Path) -> None:
    asked: list[TunneldHost] = []

    def remote_port(host: TunneldHost) -> Any:
        asked.append(host)
        return make_port(tmp_path)

    found = discover(linux_host(remote_port), tunneld=[LAB, LAB])

    (remote,) = found.candidates
    assert (remote.kind, remote.udid, remote.host, remote.usable) == ("device", UDID, "lab-mac.local:49151", True)
    assert "tunneld at lab-mac.local:49151" in remote.reason
    assert asked == [LAB], "each host is asked once"


def test_an_unreachable_tunneld_is_a_note_not_a_failure() -> None:
    class Down:
        def list_udids(self) -> list[str]:
            raise TargetUnavailable("tunneld at lab-mac.local:49151 does not answer", where="lab")

        def close(self) -> None:
            pass

    found = discover(linux_host(lambda _host: Down()), tunneld=[LAB])

    assert found.candidates == ()
    (note,) = [note for note in found.notes if note.startswith("remote devices at lab-mac.local:49151")]
    assert "does not answer" in note


def test_open_target_with_remote_builds_a_device_target_over_that_host(make_port: Any, tmp_path: Path) -> None:
    port = make_port(tmp_path)
    target = open_target(UDID, remote=LAB, host=linux_host(lambda _host: port))
    assert isinstance(target, DeviceTarget)
    with target.session():
        assert target.info().host == "lab-mac.local:49151"

    with pytest.raises(TargetUnavailable) as caught:
        open_target("00008101-000000000000001E", remote=LAB, host=linux_host(lambda _host: port))
    assert UDID in (caught.value.fix or ""), "the refusal lists what the host does serve"


def test_the_tunneld_listing_gives_the_udids_with_a_tunnel() -> None:
    listing = json.loads((RECORDED / "list.json").read_text(encoding="utf-8"))
    assert served_udids(listing) == ["00008112-000C1D2E3F40801E", "00008130-001A2B3C4D5E6F70"]
    with pytest.raises(TargetError, match="not its listing"):
        served_udids(["not", "a", "listing"])


class FakeRsd:
    """What `get_tunneld_device_by_udid` returns: a connected RSD session (the attributes the port reads)."""

    def __init__(self, udid: str) -> None:
        self.udid = udid
        self.product_type = "iPad14,8"
        self.product_version = "18.5"
        self.product_build_version = "22F76"
        self.has_developer_mode = True
        self.all_values = {"DeviceName": "Lab iPad"}
        self.lockdown = type("Lockdown", (), {"chip_id": 0x8112})()
        self.closed = False

    async def get_developer_mode_status(self) -> bool:
        return True

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def tunneld_api(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """pymobiledevice3's tunneld API replaced: the recorded listing, and one RSD per call; usbmux forbidden."""
    import pymobiledevice3.lockdown
    import pymobiledevice3.tunneld.api as api

    seen: dict[str, Any] = {"by_udid": [], "listed": [], "sessions": []}
    listing = json.loads((RECORDED / "list.json").read_text(encoding="utf-8"))

    async def get_tunneld_tunnels(address: tuple[str, int]) -> dict[str, Any]:
        seen["listed"].append(address)
        return listing

    async def get_tunneld_device_by_udid(
        udid: str, address: tuple[str, int] = ("127.0.0.1", 49151), bridge: bool | None = None
    ) -> FakeRsd | None:
        seen["by_udid"].append((udid, address, bridge))
        if udid not in served_udids(listing):
            return None
        session = FakeRsd(udid)
        seen["sessions"].append(session)
        return session

    async def no_usbmux(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a remote device must not be looked for on this host's usbmux")

    monkeypatch.setattr(api, "get_tunneld_tunnels", get_tunneld_tunnels)
    monkeypatch.setattr(api, "get_tunneld_device_by_udid", get_tunneld_device_by_udid)
    monkeypatch.setattr(pymobiledevice3.lockdown, "create_using_usbmux", no_usbmux)
    return seen


def test_the_pymobiledevice3_port_reaches_a_remote_device_through_the_tunneld_bridge(
    tunneld_api: dict[str, Any],
) -> None:
    port = Pmd3Port(timeout=5.0, tunneld=TunneldHost("192.168.1.20", 6000))
    try:
        assert port.list_udids() == ["00008112-000C1D2E3F40801E", "00008130-001A2B3C4D5E6F70"]
        facts = port.connect("00008112-000C1D2E3F40801E")
        assert port.tunneld_running()
    finally:
        port.close()

    assert tunneld_api["listed"] == [("192.168.1.20", 6000)]
    assert tunneld_api["by_udid"] == [("00008112-000C1D2E3F40801E", ("192.168.1.20", 6000), True)]
    assert (facts.name, facts.os_version, facts.chip_id, facts.developer_mode) == ("Lab iPad", "18.5", 0x8112, True)
    assert tunneld_api["sessions"][0].closed, "closing the port closes the remote session"


def test_a_device_the_remote_tunneld_does_not_serve_names_the_host(tunneld_api: dict[str, Any]) -> None:
    port = Pmd3Port(timeout=5.0, tunneld=LAB)
    try:
        with pytest.raises(TargetUnavailable) as caught:
            port.connect("00008101-000E59D03A88001E")
    finally:
        port.close()
    assert "tunneld at lab-mac.local:49151 has no tunnel" in caught.value.what
    assert "curl http://lab-mac.local:49151/" in (caught.value.fix or "")


def test_an_unreachable_remote_tunneld_says_how_to_start_it_there(monkeypatch: pytest.MonkeyPatch) -> None:
    import pymobiledevice3.tunneld.api as api
    from pymobiledevice3.exceptions import TunneldConnectionError

    async def refused(address: tuple[str, int]) -> Any:
        raise TunneldConnectionError()

    monkeypatch.setattr(api, "get_tunneld_tunnels", refused)
    port = Pmd3Port(timeout=5.0, tunneld=LAB)
    try:
        with pytest.raises(TargetUnavailable) as caught:
            port.list_udids()
    finally:
        port.close()
    assert "does not answer" in caught.value.what
    assert "on lab-mac.local: sudo pymobiledevice3 remote tunneld -d --host 0.0.0.0 --port 49151" in (
        caught.value.fix or ""
    )
