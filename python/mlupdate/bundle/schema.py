"""The contract's JSON schemas (2020-12) and the checks that come before them: JSON syntax and version.

Readers check the version first, so a newer bundle says "version 2 is not supported" instead of listing
every field it does not recognise.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from mlupdate import limits
from mlupdate.contract import JOB_KIND, RESULTS_KIND, SUPPORTED_VERSIONS
from mlupdate.contract import SCHEMA_VERSION as SCHEMA_VERSION
from mlupdate.errors import SchemaError

SchemaName = Literal["job", "results", "event"]
_KINDS = {"job": JOB_KIND, "results": RESULTS_KIND}


@cache
def schema(name: SchemaName) -> dict[str, Any]:
    """The parsed schema document `bundle/schemas/<name>.schema.json`."""
    text = resources.files("mlupdate.bundle").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def as_int64(value: Any) -> int | None:
    """`value` as a 64-bit integer, or None. Like Swift's `JSONDecoder` (the other reader of every bundle), an
    integral number written with a fraction or exponent (`1.0`, `1e3`) counts; a value outside int64 does not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, float) and value.is_integer() and INT64_MIN <= value < 2.0**63:
        return int(value)
    return None


# JSON Schema's "integer" is any mathematical integer; the contract's is what both readers can hold: an int64.
_ContractValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _, value: as_int64(value) is not None),
)


@cache
def _validator(name: SchemaName) -> Draft202012Validator:
    validator: Draft202012Validator = _ContractValidator(schema(name))
    return validator


JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_job_id(job_id: str, *, where: str) -> str:
    """Job ids name folders on the host and the device: letters, digits, `.`, `_`, `-`, at most 128."""
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise SchemaError(
            f"job id {job_id!r} is not allowed",
            where=where,
            fix="use letters, digits, `.`, `_` and `-` (starting with a letter or digit, at most 128)",
        )
    return job_id


def parse_json(data: bytes, *, where: str, depth_checked: bool = False) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity literals, no duplicate keys, no unpaired surrogates, nested at most
    `mlupdate.limits.JSON_DEPTH` deep (`depth_checked`: the caller checked the text this came from)."""
    fix = "write UTF-8 JSON without NaN/Infinity or duplicate keys"
    if not depth_checked:
        limits.check_json_depth(data, error=SchemaError, where=where, fix=fix)
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SchemaError(f"not valid JSON: {exc}", where=where, fix=fix) from None
    bad = limits.first_lone_surrogate(value)
    if bad is not None:
        raise SchemaError(
            "a string holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is no character",
            where=f"{where}: {bad}",
            fix="write strings as valid Unicode (UTF-8)",
        )
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (write null plus an error instead)")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object, refusing a key seen twice, also as two spellings equal after Unicode normalisation (Swift's
    dictionaries would merge those silently)."""
    out: dict[str, Any] = {}
    normalised: set[str] = set()
    for key, value in pairs:
        spelling = key if key.isascii() else unicodedata.normalize("NFC", key)
        if spelling in normalised:
            raise ValueError(f"duplicate key {key!r}")
        normalised.add(spelling)
        out[key] = value
    return out


def check_version(document: Any, *, where: str) -> None:
    """Refuse a manifest whose schema_version this reader does not know, before any other check."""
    if not isinstance(document, dict) or "schema_version" not in document:
        return  # the schema reports the missing field
    version = document["schema_version"]
    if as_int64(version) not in SUPPORTED_VERSIONS:
        raise SchemaError(
            f"schema_version {version!r} is not supported (this reader supports {list(SUPPORTED_VERSIONS)})",
            where=f"{where}: schema_version",
            fix="upgrade mlupdate-harness, or have the producer write a supported schema_version",
        )


def validate(document: Any, name: SchemaName, *, where: str) -> dict[str, Any]:
    """Validate a manifest against its schema; the error names the field (e.g. `training.features[0].width`)."""
    if name in _KINDS:
        check_version(document, where=where)
    errors = list(_validator(name).iter_errors(document))
    if errors:
        error = best_match(errors)
        raise SchemaError(
            f"{describe(error)}" + (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""),
            where=f"{where}: {field_path(error)}",
            fix=f"make the file match {name}.schema.json (see docs/contract.md)",
        )
    if _has_non_finite(document):
        raise SchemaError("holds a NaN or Infinity number", where=where, fix="write null plus an error instead")
    normalised: dict[str, Any] = _integral_floats_as_ints(document)
    return normalised


def label_list(values: Any, kind: str, count: int) -> list[Any] | None:
    """A string or int64 label list of exactly `count` values (int64s as Python ints), or None if it is not one."""
    if not isinstance(values, list) or len(values) != count:
        return None
    if kind == "string":
        return values if all(type(value) is str for value in values) else None
    integers = [as_int64(value) for value in values]
    return None if any(value is None for value in integers) else integers


def _integral_floats_as_ints(value: Any) -> Any:
    """`1.0` -> `1` everywhere (the schema accepted it as an integer where one is due; a number field loses
    nothing), so code after the reader never meets `range(1.0)`."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2.0**63:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def field_path(error: ValidationError) -> str:
    """`a.b[2].c` for the instance location of a validation error; `(top level)` for the document."""
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe(error: ValidationError) -> str:
    message = error.message
    return message if len(message) <= 300 else message[:300] + "…"


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


_DUMP_OPTIONS: dict[str, Any] = {"indent": 2, "sort_keys": True, "ensure_ascii": False, "allow_nan": False}


def dumps(document: dict[str, Any]) -> bytes:
    """The canonical bytes of a manifest: sorted keys, 2-space indent, UTF-8, trailing newline, no NaN."""
    return (json.dumps(document, **_DUMP_OPTIONS) + "\n").encode()


def dump(document: dict[str, Any], path: Path) -> None:
    """Write `dumps(document)` chunk by chunk, so a manifest listing 10,000 files is never one big string."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        json.dump(document, handle, **_DUMP_OPTIONS)
        handle.write("\n")
