"""The companion app's Info.plist has one source, and both ways of building the app see the same keys.

Two routes build the app: `xcodegen generate --spec ios_app/project.yml` (XcodeGen writes the project, and the
plist too when the target has an `info:` block) and the checked-in `MLHarnessCompanion.xcodeproj`. For each
route this test works out the plist the built app would carry (the plist file the route uses, its `$(SETTING)`
references resolved from that route's build settings, plus any `INFOPLIST_KEY_*` settings when Xcode generates
the plist) and requires the two to be equal and to hold the keys the harness depends on.
"""

from __future__ import annotations

import plistlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pbxproj import XcodeProject

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ios_app"
TARGET = "MLHarnessCompanion"
CONFIGURATIONS = ("Debug", "Release")

# Keys the harness relies on: tools read the app's Documents (file sharing / opening in place), the app launches
# full screen with one scene, and the bundle id is the one the targets use.
REQUIRED = {
    "UIFileSharingEnabled": True,
    "LSSupportsOpeningDocumentsInPlace": True,
    "UILaunchScreen": {},
    "UIApplicationSceneManifest": {"UIApplicationSupportsMultipleScenes": False},
    "CFBundleIdentifier": "org.mlupdate.companion",
    "CFBundleExecutable": TARGET,
}
# What XcodeGen writes into a plist it generates from an `info:` block besides the listed `properties`
# (its defaults for an application: the CFBundle basics). Everything else in an existing file is lost.
XCODEGEN_DEFAULTS = {
    "CFBundleDevelopmentRegion": "$(DEVELOPMENT_LANGUAGE)",
    "CFBundleExecutable": "$(EXECUTABLE_NAME)",
    "CFBundleIdentifier": "$(PRODUCT_BUNDLE_IDENTIFIER)",
    "CFBundleInfoDictionaryVersion": "6.0",
    "CFBundleName": "$(PRODUCT_NAME)",
    "CFBundlePackageType": "$(PRODUCT_BUNDLE_PACKAGE_TYPE)",
    "CFBundleShortVersionString": "1.0",
    "CFBundleVersion": "1",
}
_REFERENCE = re.compile(r"\$\((?P<name>[A-Z0-9_]+)\)")


def resolve(value: Any, settings: dict[str, str]) -> Any:
    """A plist value with every `$(NAME)` replaced by the build setting (Xcode's derived ones included)."""
    if isinstance(value, dict):
        return {key: resolve(item, settings) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, settings) for item in value]
    if not isinstance(value, str):
        return value
    derived = {
        "TARGET_NAME": TARGET,
        "EXECUTABLE_NAME": settings.get("PRODUCT_NAME", TARGET),
        "PRODUCT_BUNDLE_PACKAGE_TYPE": "APPL",
        "DEVELOPMENT_LANGUAGE": "en",
        **settings,
    }

    def substitute(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in derived:
            raise AssertionError(f"$({name}) is not a build setting of this route")
        return str(resolve(derived[name], derived))

    return _REFERENCE.sub(substitute, value)


def effective_plist(settings: dict[str, str], plist: dict[str, Any]) -> dict[str, Any]:
    """What ends up in the built app's Info.plist for a route with these settings and this source plist."""
    built = dict(plist)
    if settings.get("GENERATE_INFOPLIST_FILE") == "YES":
        prefix = "INFOPLIST_KEY_"
        built |= {key[len(prefix) :]: value for key, value in settings.items() if key.startswith(prefix)}
    return resolve(built, settings)


def xcodegen_route(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per configuration, the plist XcodeGen's project would put in the app."""
    target = spec["targets"][TARGET]
    settings = {
        **{k: str(v) for k, v in spec.get("settings", {}).get("base", {}).items()},
        **{k: str(v) for k, v in target.get("settings", {}).get("base", {}).items()},
    }
    if "info" in target:
        # XcodeGen regenerates the file from the block: its defaults plus the listed properties, nothing else.
        settings.setdefault("INFOPLIST_FILE", target["info"]["path"])
        source = {**XCODEGEN_DEFAULTS, **target["info"].get("properties", {})}
    else:
        source = plistlib.loads((APP / settings["INFOPLIST_FILE"]).read_bytes())
    settings = {k: v.replace("$(TARGET_NAME)", TARGET) for k, v in settings.items()}
    return {name: effective_plist(settings, source) for name in CONFIGURATIONS}


def xcodeproj_route(project: XcodeProject) -> dict[str, dict[str, Any]]:
    """Per configuration, the plist the checked-in project would put in the app."""
    root = project.objects[project.rootObject]
    project_settings = {
        project.objects[c].name: _settings(project.objects[c].buildSettings)
        for c in project.objects[root.buildConfigurationList].buildConfigurations
    }
    routes = {}
    for configuration in project.objects.get_configurations_on_targets(TARGET):
        settings = {**project_settings.get(configuration.name, {}), **_settings(configuration.buildSettings)}
        settings = {k: v.replace("$(TARGET_NAME)", TARGET) for k, v in settings.items()}
        source = plistlib.loads((APP / settings["INFOPLIST_FILE"]).read_bytes())
        routes[configuration.name] = effective_plist(settings, source)
    return routes


def _settings(build_settings: Any) -> dict[str, str]:
    return {key: str(build_settings[key]) for key in build_settings.get_keys()}


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((APP / "project.yml").read_text(encoding="utf-8"))
    return spec


def _project() -> XcodeProject:
    return XcodeProject.load(str(APP / "MLHarnessCompanion.xcodeproj" / "project.pbxproj"))


def missing_or_wrong(plist: dict[str, Any]) -> dict[str, Any]:
    return {key: plist.get(key, "<missing>") for key, value in REQUIRED.items() if plist.get(key) != value}


def test_both_routes_give_the_app_the_same_plist() -> None:
    from_spec, from_project = xcodegen_route(_spec()), xcodeproj_route(_project())
    assert sorted(from_project) == sorted(CONFIGURATIONS)
    for name in CONFIGURATIONS:
        assert from_spec[name] == from_project[name], name


@pytest.mark.parametrize("route", ["xcodegen", "xcodeproj"])
def test_the_app_plist_has_what_the_harness_needs(route: str) -> None:
    plists = xcodegen_route(_spec()) if route == "xcodegen" else xcodeproj_route(_project())
    for name, plist in plists.items():
        assert missing_or_wrong(plist) == {}, f"{route} {name}"


def test_an_info_block_would_lose_keys() -> None:
    """The check bites: the spec as it was (an `info:` block without properties) loses the harness's keys."""
    spec = _spec()
    spec["targets"][TARGET]["info"] = {"path": "App/Info.plist"}
    lost = missing_or_wrong(xcodegen_route(spec)["Debug"])
    assert {"UIFileSharingEnabled", "LSSupportsOpeningDocumentsInPlace", "UILaunchScreen"} <= set(lost)
    assert xcodegen_route(spec) != xcodeproj_route(_project())


def test_a_setting_that_differs_between_routes_is_caught() -> None:
    spec = _spec()
    spec["targets"][TARGET]["settings"]["base"]["PRODUCT_BUNDLE_IDENTIFIER"] = "org.example.other"
    assert xcodegen_route(spec)["Debug"]["CFBundleIdentifier"] == "org.example.other"
    assert xcodegen_route(spec) != xcodeproj_route(_project())


def test_the_plist_is_not_also_a_resource() -> None:
    """XcodeGen must not copy the plist into the bundle as a resource (Xcode refuses that build)."""
    target = _spec()["targets"][TARGET]
    app_sources = [s for s in target["sources"] if isinstance(s, dict) and s.get("path") == "App"]
    assert app_sources and "Info.plist" in app_sources[0].get("excludes", [])
    text = (APP / "MLHarnessCompanion.xcodeproj" / "project.pbxproj").read_text(encoding="utf-8")
    assert "Info.plist in Resources" not in text and "Info.plist in Sources" not in text


def test_user_state_of_xcode_is_ignored() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "xcuserdata/" in ignored
