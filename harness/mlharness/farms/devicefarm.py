"""AWS Device Farm through boto3: the job cases packaged as XCTest run on a device pool, results read back.

A run is: upload the app (`.ipa`), the test package (`.zip`: the `.xctestrun` and the build products) and the
test spec (`testspec.yml`, which runs `xcodebuild test-without-building` on the farm's Mac and exports the
`.xcresult` into `$DEVICEFARM_LOG_DIR/mlharness-export`), wait until Device Farm has processed each upload,
schedule an `XCTEST_UI` run with that spec on the pool, poll it under a deadline, then for every device (a
Device Farm *job*) download its customer artefacts and read them with `mlharness.xctest.read_export`, the same
reader as for any `.xcresult`. On timeout or Ctrl-C the run is stopped before the error is raised.

Credentials come only from boto3's standard chain (environment, profile, SSO, instance role); this module
never sees a key. The pre-signed URLs Device Farm hands out for uploads and artefacts are secrets while they
live: they are used, never logged and never written to a report. Throttling errors (the codes botocore's
standard retry mode treats as throttling) are retried here with capped exponential back-off and full jitter,
so the policy is visible and tested; botocore's own retries are turned off by `client()`.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlharness.errors import FarmError, FarmTimeout, HarnessError
from mlharness.farms import DEVICE_FARM_REGION
from mlharness.xctest.archive import extract_results_zip
from mlharness.xctest.xcresult import EXPORT_TESTS, XcresultOutcome, read_export
from mlupdate.errors import MlupdateError

log = logging.getLogger(__name__)

FARM = "aws-device-farm"
REGION = DEVICE_FARM_REGION
EXPORT_FOLDER = "mlharness-export"

# botocore's standard retry mode counts these as throttling (botocore.retries.standard).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
_UPLOAD_TYPES = {"app": "IOS_APP", "tests": "XCTEST_UI_TEST_PACKAGE", "spec": "XCTEST_UI_TEST_SPEC"}
_CUSTOMER_ARTIFACT = "CUSTOMER_ARTIFACT"
# A device's artefacts: the exported results of every job case plus logs.
MAX_ARTIFACT_BYTES = 8 << 30


@dataclass(frozen=True)
class Backoff:
    """Retries of a throttled call: `attempts` in all, waits of up to base·2^n seconds, capped."""

    attempts: int = 6
    base: float = 1.0
    cap: float = 30.0


@dataclass(frozen=True)
class FarmDeadlines:
    """Seconds allowed: each upload to be processed, the whole run, and the pause between polls."""

    upload: float = 900.0
    run: float = 3600.0
    poll_interval: float = 15.0
    transfer: float = 600.0


@dataclass(frozen=True)
class FarmRunSpec:
    """What to run where. `pool_name` is for the report; the ARNs are Device Farm's."""

    project_arn: str
    device_pool_arn: str
    pool_name: str
    app: Path
    test_package: Path
    test_spec: Path
    job_ids: tuple[str, ...]
    name: str = "mlharness"
    job_timeout_minutes: int = 60


@dataclass(frozen=True)
class FarmRow:
    """One job on one farm device: where it ran and what came back (a verified bundle or the error)."""

    job_id: str
    farm: str
    pool: str
    device: str
    os: str
    outcome: str  # "verified", or the error's class name
    detail: str
    results_path: Path | None = None

    @property
    def where(self) -> str:
        return f"farm {self.farm} · pool {self.pool} · {self.device}"


@dataclass
class FarmRunReport:
    """The rows of one farm run, and how the run itself ended."""

    run_name: str
    status: str  # Device Farm's run result (PASSED, FAILED, ERRORED, STOPPED, ...) or "timed out"
    rows: list[FarmRow] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return bool(self.rows) and all(row.outcome == "verified" for row in self.rows)


class Http(Protocol):
    """Moves bytes to and from Device Farm's pre-signed URLs (S3)."""

    def put(self, url: str, source: Path, *, timeout: float) -> None: ...
    def get(self, url: str, dest: Path, *, timeout: float, max_bytes: int) -> None: ...


class UrllibHttp:
    """`Http` with the standard library; the URL is never logged, failures say only which file."""

    def put(self, url: str, source: Path, *, timeout: float) -> None:
        with source.open("rb") as body:
            request = urllib.request.Request(url, data=body, method="PUT")
            request.add_header("Content-Type", "application/octet-stream")
            request.add_header("Content-Length", str(source.stat().st_size))
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()

    def get(self, url: str, dest: Path, *, timeout: float, max_bytes: int) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("xb") as sink:
            written = 0
            while chunk := response.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise FarmError(
                        f"artefact larger than {max_bytes} bytes", where=dest.name, fix="refused as hostile input"
                    )
                sink.write(chunk)


# At DEBUG these log request and response bodies and URLs, which carry the pre-signed (secret) URLs.
_SDK_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")


def keep_sdk_logs_quiet() -> None:
    """Cap the AWS SDK's loggers at INFO, whatever -vv asks for: nothing secret may reach a log."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def client(*, region: str = REGION, profile: str | None = None) -> Any:
    """A Device Farm client from boto3's standard credential chain (`profile` picks a named profile)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise HarnessError(
            "boto3 is not installed",
            where="aws-device-farm",
            fix="pip install 'mlupdate-harness[farms]'",
        ) from exc
    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    # Throttling is retried by DeviceFarm._call with its own visible back-off: one attempt per call here.
    return session.client("devicefarm", region_name=region, config=Config(retries={"total_max_attempts": 1}))


class DeviceFarm:
    """Device Farm calls with throttling back-off, deadlines and structured errors."""

    def __init__(
        self,
        devicefarm: Any,
        *,
        http: Http | None = None,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = devicefarm
        keep_sdk_logs_quiet()
        self._http = http or UrllibHttp()
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One API call; throttling is retried with back-off, any other error raises `FarmError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(1, self._backoff.attempts + 1):
            try:
                response: dict[str, Any] = getattr(self._client, operation)(**params)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                message = str(exc.response.get("Error", {}).get("Message", ""))
                if code in THROTTLING_CODES and attempt < self._backoff.attempts:
                    wait = self._jitter() * min(self._backoff.cap, self._backoff.base * 2 ** (attempt - 1))
                    log.warning("%s throttled (%s), attempt %d; retrying in %.1f s", operation, code, attempt, wait)
                    self._sleep(wait)
                    continue
                raise FarmError(
                    f"{operation} failed: {code}: {message}",
                    where=FARM,
                    fix=_fix_for(code, self._backoff.attempts),
                ) from None
            except BotoCoreError as exc:
                raise FarmError(f"{operation} failed: {exc}", where=FARM, fix=_fix_for("", 0)) from None
            else:
                return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def upload(self, project_arn: str, path: Path, kind: str, *, deadline: float, transfer: float) -> str:
        """Create the upload, PUT the file to its pre-signed URL, and wait until Device Farm processed it."""
        upload = self.call("create_upload", projectArn=project_arn, name=path.name, type=_UPLOAD_TYPES[kind])["upload"]
        arn = str(upload["arn"])
        try:
            self._http.put(str(upload["url"]), path, timeout=transfer)
        except OSError as exc:
            raise FarmError(f"could not send {path.name}: {exc.__class__.__name__}", where=FARM) from None
        log.info("uploaded %s as %s; waiting until Device Farm processed it", path.name, arn)
        give_up = self._clock() + deadline
        while True:
            state = self.call("get_upload", arn=arn)["upload"]
            if state["status"] == "SUCCEEDED":
                return arn
            if state["status"] == "FAILED":
                raise FarmError(
                    f"Device Farm refused {path.name}: {state.get('metadata') or state.get('message') or 'no reason'}",
                    where=FARM,
                    fix="rebuild the artefacts with `mlharness package` (docs/scale.md says what each must hold)",
                )
            if self._clock() >= give_up:
                raise FarmTimeout(f"{path.name} still {state['status']} after {deadline:g} s", where=FARM)
            self._sleep(5.0)

    def schedule(self, spec: FarmRunSpec, app_arn: str, package_arn: str, spec_arn: str) -> str:
        run = self.call(
            "schedule_run",
            projectArn=spec.project_arn,
            appArn=app_arn,
            devicePoolArn=spec.device_pool_arn,
            name=spec.name,
            test={"type": "XCTEST_UI", "testPackageArn": package_arn, "testSpecArn": spec_arn},
            executionConfiguration={"jobTimeoutMinutes": spec.job_timeout_minutes},
        )["run"]
        return str(run["arn"])

    def wait(self, run_arn: str, *, deadline: float, poll_interval: float) -> dict[str, Any]:
        """Poll until the run completes; past the deadline, or on Ctrl-C, stop it and raise."""
        give_up = self._clock() + deadline
        try:
            while True:
                run: dict[str, Any] = self.call("get_run", arn=run_arn)["run"]
                if run["status"] == "COMPLETED":
                    return run
                remaining = give_up - self._clock()
                if remaining <= 0:
                    self.stop(run_arn)
                    raise FarmTimeout(
                        f"the run was still {run['status']} after {deadline:g} s and has been stopped",
                        where=FARM,
                        fix="raise the deadline (--deadline), or use a pool with fewer or more available devices",
                    )
                self._sleep(min(poll_interval, remaining))
        except KeyboardInterrupt:
            self.stop(run_arn)
            raise

    def stop(self, run_arn: str) -> None:
        log.warning("stopping Device Farm run %s", run_arn)
        self.call("stop_run", arn=run_arn)

    def jobs(self, run_arn: str) -> list[dict[str, Any]]:
        return list(self._pages("list_jobs", "jobs", arn=run_arn))

    def artifacts(self, job_arn: str) -> list[dict[str, Any]]:
        return list(self._pages("list_artifacts", "artifacts", arn=job_arn, type="FILE"))

    def download(self, url: str, dest: Path, *, timeout: float) -> None:
        try:
            self._http.get(url, dest, timeout=timeout, max_bytes=MAX_ARTIFACT_BYTES)
        except OSError as exc:
            raise FarmError(f"could not download {dest.name}: {exc.__class__.__name__}", where=FARM) from None

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self.call(operation, **params, **({"nextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return


def run_on_device_farm(
    farm: DeviceFarm, spec: FarmRunSpec, out_dir: Path, *, deadlines: FarmDeadlines = FarmDeadlines()
) -> FarmRunReport:
    """Upload, schedule, wait and read back; every job on every device gets a row. Raises `FarmError` only
    when nothing could run (an upload refused, the run not scheduled)."""
    app_arn = farm.upload(spec.project_arn, spec.app, "app", deadline=deadlines.upload, transfer=deadlines.transfer)
    package_arn = farm.upload(
        spec.project_arn, spec.test_package, "tests", deadline=deadlines.upload, transfer=deadlines.transfer
    )
    spec_arn = farm.upload(
        spec.project_arn, spec.test_spec, "spec", deadline=deadlines.upload, transfer=deadlines.transfer
    )
    run_arn = farm.schedule(spec, app_arn, package_arn, spec_arn)
    log.info("scheduled Device Farm run %s on pool %s", run_arn, spec.pool_name)
    try:
        run = farm.wait(run_arn, deadline=deadlines.run, poll_interval=deadlines.poll_interval)
    except FarmTimeout as timeout:
        rows = [_row(spec, job_id, "-", "-", timeout) for job_id in spec.job_ids]
        return FarmRunReport(spec.name, "timed out", rows)
    report = FarmRunReport(spec.name, str(run.get("result", "?")))
    for job in farm.jobs(run_arn):
        report.rows.extend(_device_rows(farm, spec, job, out_dir, deadlines))
    return report


def _device_rows(
    farm: DeviceFarm, spec: FarmRunSpec, job: Mapping[str, Any], out_dir: Path, deadlines: FarmDeadlines
) -> list[FarmRow]:
    device = job.get("device") or {}
    name = str(device.get("name") or job.get("name") or "?")
    os_version = f"iOS {device.get('os', '?')}"
    artefacts = [a for a in farm.artifacts(str(job["arn"])) if a.get("type") == _CUSTOMER_ARTIFACT]
    if not artefacts:
        if job.get("result") in ("ERRORED", "FAILED", "STOPPED"):
            error: MlupdateError = FarmError(
                f"the device failed mid-run ({job.get('result')}): {job.get('message') or 'no message'}",
                where=f"{FARM} · {name}",
                fix="the device dropped out before the results were exported; run again (another device of the pool)",
            )
        else:
            error = FarmError(
                "no customer artefact: the exported results are missing",
                where=f"{FARM} · {name}",
                fix="the test spec must export into $DEVICEFARM_LOG_DIR/mlharness-export (mlharness package writes it)",
            )
        return [_row(spec, job_id, name, os_version, error) for job_id in spec.job_ids]
    device_dir = out_dir / _slug(name)
    with tempfile.TemporaryDirectory(prefix="mlharness-farm-") as scratch:
        archive = Path(scratch) / "customer-artifacts.zip"
        farm.download(str(artefacts[0]["url"]), archive, timeout=deadlines.transfer)
        unpacked = extract_results_zip(archive, Path(scratch) / "artefacts", where=f"{FARM} · {name} artefacts")
        export = _find_export(unpacked)
        if export is None:
            error = FarmError(
                f"the artefacts hold no {EXPORT_FOLDER}/{EXPORT_TESTS}",
                where=f"{FARM} · {name}",
                fix="the test run ended before xcresulttool exported the results; see the TESTSPEC_OUTPUT log",
            )
            return [_row(spec, job_id, name, os_version, error) for job_id in spec.job_ids]
        outcomes = read_export(export, spec.job_ids, device_dir, where=f"{FARM} · {name}")
    return [_outcome_row(spec, outcome, name, os_version) for outcome in outcomes]


def _find_export(root: Path) -> Path | None:
    # Device Farm zips $DEVICEFARM_LOG_DIR; where the folder sits inside that zip is its business.
    for candidate in sorted(root.rglob(EXPORT_FOLDER)):
        if candidate.is_dir() and not candidate.is_symlink() and (candidate / EXPORT_TESTS).is_file():
            return candidate
    return None


def _outcome_row(spec: FarmRunSpec, outcome: XcresultOutcome, device: str, os_version: str) -> FarmRow:
    if outcome.results is not None:
        return FarmRow(
            outcome.job_id, FARM, spec.pool_name, device, os_version, "verified", outcome.results.status,
            outcome.results.path,
        )  # fmt: skip
    assert outcome.error is not None
    return _row(spec, outcome.job_id, device, os_version, outcome.error)


def _row(spec: FarmRunSpec, job_id: str, device: str, os_version: str, error: MlupdateError) -> FarmRow:
    return FarmRow(job_id, FARM, spec.pool_name, device, os_version, type(error).__name__, error.what)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-") or "device"


def _fix_for(code: str, attempts: int) -> str:
    if code in THROTTLING_CODES:
        return f"Device Farm kept throttling after {attempts} attempts: wait a minute and run again"
    if code in ("NotFoundException", "ArgumentException"):
        return "check the project and device pool ARNs (aws devicefarm list-projects / list-device-pools)"
    if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "AccessDenied"):
        return "set AWS credentials the standard way (aws configure, AWS_PROFILE, SSO login); they need devicefarm:*"
    return "see the AWS error code above; docs/scale.md lists what the run needs"


def write_rows(rows: Sequence[FarmRow], *, relative_to: Path | None = None) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts for reports: no ARN, no URL, nothing secret. Results folders are named relative
    to `relative_to` (the run's output folder), so the report stays valid when the folder moves."""
    return [
        {
            "job": row.job_id,
            "where": row.where,
            "farm": row.farm,
            "pool": row.pool,
            "device": row.device,
            "os": row.os,
            "outcome": row.outcome,
            "detail": row.detail,
            "results": _results_name(row.results_path, relative_to),
        }
        for row in rows
    ]


def _results_name(path: Path | None, relative_to: Path | None) -> str | None:
    if path is None:
        return None
    if relative_to is not None and path.is_relative_to(relative_to):
        return path.relative_to(relative_to).as_posix()
    return str(path)
