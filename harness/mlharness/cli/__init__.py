"""`mlharness`: a thin command line over mlupdate and mlharness.

Each module in this package that defines `register(subparsers)` contributes its subcommands; handlers take
the parsed arguments and return an exit code. Errors from the library become one clear message and exit 2
(exit 1 is reserved for "ran fine, the answer is no": an invalid model, a failed parity verdict).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence

from mlupdate import __version__
from mlupdate.errors import MlupdateError

Handler = Callable[[argparse.Namespace], int]

EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2


def add_force_option(parser: argparse.ArgumentParser, what: str) -> None:
    """`--force`: replace an output folder this command did not write (never an input, a link or the home folder)."""
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"replace {what} even if this command did not write it (its files are deleted)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlharness",
        description="Build updatable Core ML models and jobs, run them on Simulators and devices, check parity.",
    )
    parser.add_argument("--version", action="version", version=f"mlharness {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except MlupdateError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`mlharness inspect m | head`): nobody is left to tell. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # Last line of defence for what no library check anticipated (an output that is a file, a folder
        # without write permission, a dropped connection): one message, the traceback only with -vv.
        logging.getLogger(__name__).debug("%s failed", args.command, exc_info=True)
        fix = _OS_FIX if exc.filename is not None else "run again with -vv to see where it failed"
        print(f"error: {_os_error_text(exc)}\n  fix: {fix}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


_OS_FIX = "check the paths given: inputs must exist and be readable, outputs must be folders you can write"


def _os_error_text(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if isinstance(exc, NotADirectoryError | FileExistsError):
        reason += " (a file stands where a folder is needed)"
    paths = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


if __name__ == "__main__":
    sys.exit(main())
