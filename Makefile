# Every target that needs Python sets up .venv itself, so a fresh clone only needs python3 (and swift, if present).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo needs the package and the digits scenario's scikit-learn, not the test and development tools.
DEMO_STAMP := $(VENV)/.installed-demo
OUT    ?= out/demo
# swift on PATH, or the toolchain's usual Linux location.
SWIFT  := $(or $(shell command -v swift 2>/dev/null),$(wildcard /opt/swift/usr/bin/swift))

.PHONY: setup test test-python test-swift lint demo bench discrimination app app-device sim-e2e companion-macos mac-e2e clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing mlupdate-harness with its test and development tools into $(VENV) (first run only; a few minutes)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing mlupdate-harness and what the demo needs into $(VENV) (first run only; about a minute)"
	$(BIN)/python -m pip install --quiet -e '.[scenarios]'
	touch $(DEMO_STAMP)

# Swift first, so pytest's summary line closes the output.
test: test-swift test-python

# A crashed worker (a segfault, an OOM kill) must fail the run: under --dist loadgroup a restarted worker
# leaves the session waiting forever.
test-python: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --max-worker-restart 0

# Then the Core ML runner and companion-macos, type-checked against the Apple API shims (ios_app/TypeCheck: Swift 6,
# warnings as errors); tests/contract/test_swift_typecheck.py proves that check refuses deliberately wrong calls.
test-swift:
ifdef SWIFT
	cd ios_app && $(SWIFT) test --disable-swift-testing  # the package's tests are XCTest
	cd ios_app/TypeCheck && $(SWIFT) build
else
	@echo "swift not on PATH: skipping the CompanionKit tests (install a Swift 6 toolchain to run them)"
endif

lint: $(STAMP)
	$(BIN)/ruff check python harness tests benchmarks
	$(BIN)/ruff format --check python harness tests benchmarks
	$(BIN)/mypy

demo: $(DEMO_STAMP)
	$(BIN)/mlharness demo -o $(OUT)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Does parity tell right from wrong on long runs? Prints each known-wrong alternative's distance in spread units
# and the false-failure rate over 300 perturbed true runs per suite (docs/parity.md; minutes, not seconds).
discrimination: $(STAMP)
	$(BIN)/python -m mlupdate.parity.discrimination

# macOS only: the companion app for the Simulator, and a signed build for a device (DEVELOPMENT_TEAM from the environment).
app:
	xcodebuild -project ios_app/MLHarnessCompanion.xcodeproj -scheme MLHarnessCompanion -configuration Debug \
	  -sdk iphonesimulator -destination 'generic/platform=iOS Simulator' \
	  -derivedDataPath ios_app/DerivedData CODE_SIGNING_ALLOWED=NO build

app-device:
	@test -n "$(DEVELOPMENT_TEAM)" || { echo "set DEVELOPMENT_TEAM to your Apple team id"; exit 2; }
	xcodebuild -project ios_app/MLHarnessCompanion.xcodeproj -scheme MLHarnessCompanion -configuration Debug \
	  -sdk iphoneos -destination 'generic/platform=iOS' -allowProvisioningUpdates \
	  -derivedDataPath ios_app/DerivedData DEVELOPMENT_TEAM=$(DEVELOPMENT_TEAM) build

sim-e2e: $(STAMP) app
	$(BIN)/python -m pytest tests/device --mlh-devices tests/device/devices.yaml --mlh-select 'kind=simulator' \
	  --mlh-report-dir out/sim-e2e --mlh-min-cells 1

# macOS 13+ only: companion-macos, the `mac` target (the Mac's own Core ML, no Simulator), and the device suite on it.
companion-macos:
	cd ios_app && swift build -c release --product companion-macos

mac-e2e: $(STAMP) companion-macos
	$(BIN)/python -m pytest tests/device --mlh-devices tests/device/devices.yaml --mlh-select 'kind=mac' \
	  --mlh-report-dir out/mac-e2e --mlh-min-cells 1

clean:
	rm -rf $(VENV) out ios_app/.build ios_app/TypeCheck/.build
