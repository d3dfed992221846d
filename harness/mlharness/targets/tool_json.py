"""Reading the JSON a tool printed (`simctl list -j`, `devicectl --json-output`) without trusting its shape.

Tools change their output between Xcode versions and a broken install prints anything: every access goes through
`ToolJson`, which turns a missing key or a value of the wrong type into a `TargetError` naming the command and the
field (`xcrun simctl list -j devices: devices.iOS-18-5[0].udid is missing`), never a KeyError or AttributeError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlharness.errors import TargetError

_FIX = "run the same command by hand: this Xcode prints JSON this harness does not know (report it with the output)"
_MISSING = object()


@dataclass(frozen=True)
class ToolJson:
    value: Any
    command: str
    path: str = ""

    @classmethod
    def parse(cls, text: str, command: str) -> ToolJson:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise TargetError(f"not JSON: {exc}", target=command, step="parse output", fix=_FIX) from None
        return cls(value, command)

    def _fail(self, what: str, path: str | None = None) -> TargetError:
        return TargetError(
            f"{path or self.path or '(top level)'} {what}", target=self.command, step="parse output", fix=_FIX
        )

    def _child(self, key: str | int, value: Any) -> ToolJson:
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return ToolJson(value, self.command, path)

    def get(self, key: str, default: Any = _MISSING) -> ToolJson:
        """The field `key` of this object; `default` when it is absent (else an error)."""
        if not isinstance(self.value, dict):
            raise self._fail(f"is {type(self.value).__name__}, not an object")
        if key not in self.value:
            if default is _MISSING:
                raise self._child(key, None)._fail("is missing")
            return self._child(key, default)
        return self._child(key, self.value[key])

    def items(self) -> Iterator[tuple[str, ToolJson]]:
        if not isinstance(self.value, dict):
            raise self._fail(f"is {type(self.value).__name__}, not an object")
        for key, value in self.value.items():
            yield key, self._child(key, value)

    def list(self) -> list[ToolJson]:
        if not isinstance(self.value, list):
            raise self._fail(f"is {type(self.value).__name__}, not a list")
        return [self._child(index, value) for index, value in enumerate(self.value)]

    def str(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail(f"is {json.dumps(self.value)[:40]}, not a string")
        return self.value

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._fail(f"is {json.dumps(self.value)[:40]}, not true or false")
        return self.value

    def int(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self._fail(f"is {json.dumps(self.value)[:40]}, not an integer")
        return self.value
