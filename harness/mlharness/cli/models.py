"""`mlharness inspect`, `mlharness validate` and `mlharness make-updatable`: the model toolkit on the command line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharness.cli import EXIT_NO, EXIT_OK
from mlharness.errors import ConfigError

if TYPE_CHECKING:
    from mlupdate.models.updatable import Optimizer


def register(subparsers: Any) -> None:
    inspect = subparsers.add_parser("inspect", help="describe a model: features, updatable layers, loss, parameters")
    inspect.add_argument("model", type=Path, help="a .mlmodel file, .mlpackage or compiled .mlmodelc folder")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    inspect.set_defaults(handler=run_inspect)

    check = subparsers.add_parser(
        "validate", help="check a model against Core ML's rules for updatable models (exit 1 when invalid)"
    )
    check.add_argument("model", type=Path, help="a .mlmodel file or .mlpackage")
    check.add_argument("--json", action="store_true", help="print the issues as JSON")
    check.set_defaults(handler=run_validate)

    make = subparsers.add_parser("make-updatable", help="write an updatable copy of a network model")
    make.add_argument("model", type=Path, help="the .mlmodel to start from (never changed)")
    make.add_argument("-o", "--output", type=Path, required=True, help="where to write the updatable model")
    make.add_argument("--layers", type=_names, required=True, help="comma-separated layers to train, e.g. fc1,fc2")
    make.add_argument(
        "--loss", choices=("cce", "mse"), required=True, help="cce: categorical cross-entropy on a softmax; mse"
    )
    make.add_argument("--loss-input", help="blob the loss reads (default: the softmax output / the only output)")
    make.add_argument("--optimizer", choices=("sgd", "adam"), required=True, help="the update's optimizer")
    make.add_argument("--lr", type=float, help="default learning rate (allowed range [0, 1])")
    make.add_argument("--batch", type=int, help="default mini-batch size")
    make.add_argument("--batch-set", type=_ints, help="allowed mini-batch sizes, e.g. 1,2,4 (default: --batch)")
    make.add_argument("--momentum", type=float, help="SGD momentum")
    make.add_argument("--beta1", type=float, help="Adam beta1")
    make.add_argument("--beta2", type=float, help="Adam beta2")
    make.add_argument("--eps", type=float, help="Adam epsilon")
    make.add_argument("--epochs", type=int, required=True, help="default number of epochs")
    make.add_argument("--epochs-set", type=_ints, help="allowed epoch counts (default: --epochs)")
    make.add_argument("--no-shuffle", action="store_true", help="do not shuffle between epochs (parity runs)")
    make.add_argument("--seed", type=int, help="shuffle seed stored in the model")
    make.set_defaults(handler=run_make_updatable)


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated layer names, e.g. fc1,fc2")
    return names


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,2,4 (got {text!r})") from None


def run_inspect(args: argparse.Namespace) -> int:
    from mlupdate.models.files import open_model
    from mlupdate.models.inspect import inspect_model
    from mlupdate.reference.readiness import check_reference

    opened = open_model(args.model)
    if opened.compiled is not None:
        from mlupdate.compiled.summary import summarize

        summary = summarize(opened.compiled)
        print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.to_text())
        return EXIT_OK
    spec = opened.require_spec("inspect")
    report = inspect_model(spec, str(args.model), reference=check_reference(spec))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    from mlupdate.models.files import open_model
    from mlupdate.models.validate import validate
    from mlupdate.reference.readiness import check_reference

    spec = open_model(args.model).require_spec("validate")
    issues = validate(spec)
    reference = check_reference(spec)
    if args.json:
        document = {
            "model": str(args.model),
            "valid": not issues,
            "issues": [i.to_dict() for i in issues],
            "reference": reference.to_dict(),
        }
        print(json.dumps(document))
    elif issues:
        print(f"{args.model}: not a valid updatable model ({len(issues)} problem(s))")
        for issue in issues:
            print(f"  - [{issue.rule}] {issue.where}: {issue.message}\n    fix: {issue.fix}")
    else:
        print(f"{args.model}: valid updatable model")
    if not args.json:
        print(reference.describe())
    return EXIT_NO if issues else EXIT_OK


def _optimizer(args: argparse.Namespace) -> Optimizer:
    from mlupdate.models.updatable import Adam, Sgd

    chosen: dict[str, Any] = {"lr": args.lr, "batch": args.batch, "batch_set": args.batch_set}
    factory: Callable[..., Optimizer]
    if args.optimizer == "sgd":
        chosen["momentum"] = args.momentum
        factory = Sgd
    else:
        chosen |= {"beta1": args.beta1, "beta2": args.beta2, "eps": args.eps}
        factory = Adam
    return factory(**{key: value for key, value in chosen.items() if value is not None})


def run_make_updatable(args: argparse.Namespace) -> int:
    from mlupdate.models.inspect import inspect_model
    from mlupdate.models.spec import load_spec, save_spec
    from mlupdate.models.updatable import Loss, make_updatable

    source: Path = args.model
    target: Path = args.output
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise ConfigError(
            "refusing to overwrite the input model", where=str(target), fix="write the updatable model elsewhere (-o)"
        )
    if target.is_dir():
        raise ConfigError(
            "the output is a folder; make-updatable writes one .mlmodel file",
            where=str(target),
            fix=f"name the file, e.g. -o {target / source.name}",
        )
    updatable = make_updatable(
        load_spec(source),
        args.layers,
        Loss(args.loss),
        _optimizer(args),
        epochs=args.epochs,
        shuffle=not args.no_shuffle,
        seed=args.seed,
        loss_input=args.loss_input,
        epochs_set=args.epochs_set,
    )
    save_spec(updatable, target)
    report = inspect_model(updatable, str(target))
    print(f"wrote {target}: updatable {report.kind}, layers {', '.join(args.layers)}, valid")
    return EXIT_OK
