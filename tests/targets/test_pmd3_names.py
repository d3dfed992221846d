"""Every name the harness imports from pymobiledevice3 exists in the installed pymobiledevice3.

The adapter imports pymobiledevice3 lazily, inside the calls that need it, so a renamed module or class would
only show on a device. This test reads the import statements of every harness module and resolves each one."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import mlharness

HARNESS = Path(mlharness.__file__).parent


def imported_names(source: str) -> list[tuple[str, str | None]]:
    """(module, name) of each `from pymobiledevice3... import name`; (module, None) of `import pymobiledevice3...`."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pymobiledevice3":
            found.extend((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names if alias.name.split(".")[0] == "pymobiledevice3")
    return found


def missing(names: list[tuple[str, str | None]]) -> list[str]:
    gone = []
    for module_name, name in names:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            gone.append(f"{module_name}: {exc}")
            continue
        if name is not None and not hasattr(module, name) and not _submodule(f"{module_name}.{name}"):
            gone.append(f"{module_name}.{name}")
    return gone


def _submodule(name: str) -> bool:
    """`from package import module` names a module that need not be an attribute before it is imported."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def test_every_pymobiledevice3_name_the_harness_imports_exists() -> None:
    names = [name for path in sorted(HARNESS.rglob("*.py")) for name in imported_names(path.read_text())]
    assert len(names) >= 15  # the adapter's services, tunneld API and exceptions
    assert missing(names) == []


def test_the_check_notices_a_renamed_class_and_a_moved_module() -> None:
    source = (
        "def f():\n"
        "    from pymobiledevice3.exceptions import NoDeviceConnectedError, NoSuchDeviceError\n"
        "    from pymobiledevice3.services.no_such_service import Service\n"
        "    import pymobiledevice3.not_a_module\n"
    )
    gone = missing(imported_names(source))
    assert gone[0] == "pymobiledevice3.exceptions.NoSuchDeviceError"
    assert gone[1].startswith("pymobiledevice3.services.no_such_service: ")
    assert gone[2].startswith("pymobiledevice3.not_a_module: ")
    assert len(gone) == 3
