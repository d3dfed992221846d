"""`mlharness job MODEL -o DIR`: a user's own model and data (or synthetic examples) as a job bundle.

The data sources are `mlupdate.data`'s: an image folder (`<label>/<image>`), `<label>_<i>.png` files, a `.npy` /
`.npz` file with a labels file, a CSV table (with or without a header, any delimiter), or `--synthetic N`
examples made from the model's own input description. The bundle folder DIR is written aside and swapped
in when complete; an existing DIR is replaced only if an earlier `mlharness job` wrote it (or with --force).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlharness.cli import EXIT_OK
from mlharness.errors import ConfigError
from mlupdate.contract import ALL_PROGRESS_EVENTS


def register(subparsers: Any) -> None:
    job = subparsers.add_parser(
        "job",
        help="turn a model and your data (or --synthetic N examples) into a job bundle",
        description="Fits the examples to the model's inputs exactly as Core ML wants them and writes the job bundle "
        "DIR: model, training set, optional probe set, parameter overrides and the events to report.",
    )
    job.add_argument("model", type=Path, help="an updatable .mlmodel or .mlpackage")
    job.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="the job bundle folder to write")
    data = job.add_mutually_exclusive_group(required=True)
    data.add_argument("--images", type=Path, metavar="FOLDER", help="images in FOLDER/<label>/, labelled by sub-folder")
    data.add_argument("--labelled-files", type=Path, metavar="FOLDER", help="images named <label>_<index>.png")
    data.add_argument("--arrays", type=Path, metavar="FILE", help=".npy [N, ...] or .npz examples (with --labels)")
    data.add_argument("--csv", type=Path, metavar="FILE", help="a CSV table, one example per row")
    data.add_argument("--synthetic", type=_positive, metavar="N", help="N valid examples made from the model itself")
    job.add_argument("--labels", type=Path, metavar="FILE", help="labels for --arrays: a .json list or .txt lines")
    job.add_argument("--target", help="the CSV label column (default: the last column)")
    job.add_argument("--columns", type=_names, help="the CSV feature columns, comma-separated (default: all others)")
    job.add_argument("--no-header", action="store_true", help="the CSV has no header row (columns are 0, 1, ...)")
    job.add_argument("--delimiter", default=",", help="the CSV delimiter (default ,)")
    job.add_argument("--classes", type=_names, help="class names in index order, for a network's class-index target")
    job.add_argument(
        "--fit",
        default="scaleFill",
        choices=("scaleFill", "scaleFit", "centerCrop"),
        help="how images are fitted to the model's size (default: scaleFill)",
    )
    job.add_argument("--probe", type=Path, metavar="PATH", help="probe set: a folder of images, .npy/.npz or CSV")
    job.add_argument("--probe-synthetic", type=_positive, metavar="N", help="N synthetic probe examples")
    job.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="parameter override, e.g. learningRate=0.01"
    )
    job.add_argument(
        "--events",
        type=_names,
        default=list(ALL_PROGRESS_EVENTS),
        help=f"events to report, comma-separated (default {','.join(ALL_PROGRESS_EVENTS)})",
    )
    job.add_argument("--repeat", type=_positive, default=1, help="update tasks to run in a row (default 1)")
    job.add_argument("--job-id", help="the job's id (default: the model's name and a random suffix)")
    job.add_argument("--seed", type=int, default=0, help="seed of --synthetic examples (default 0)")
    job.add_argument("--force", action="store_true", help="replace DIR even if another command wrote it")
    job.set_defaults(handler=run_job_command)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return names


def parse_overrides(pairs: list[str]) -> dict[str, float | int | bool]:
    """`key=value` pairs as typed values: true/false, whole numbers, then decimals."""
    overrides: dict[str, float | int | bool] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ConfigError(f"bad override {pair!r}", where="--set", fix="write KEY=VALUE, e.g. --set epochs=5")
        value = text.strip()
        if value.lower() in ("true", "false"):
            overrides[key.strip()] = value.lower() == "true"
            continue
        try:
            overrides[key.strip()] = int(value)
        except ValueError:
            try:
                overrides[key.strip()] = float(value)
            except ValueError:
                raise ConfigError(
                    f"override {key.strip()!r} has the value {value!r}, not a number or true/false",
                    where="--set",
                    fix="give a number (learningRate=0.01, epochs=5) or true/false (shuffle=false)",
                ) from None
    return overrides


def _training_source(args: argparse.Namespace, spec: Any) -> Any:
    from mlupdate import data
    from mlupdate.data.synthetic import synthetic

    if args.labels is not None and args.arrays is None:
        raise ConfigError("--labels goes with --arrays", where="--labels", fix="pass --arrays FILE with --labels")
    if args.images is not None:
        return data.image_folder(args.images)
    if args.labelled_files is not None:
        return data.labelled_files(args.labelled_files)
    if args.arrays is not None:
        if args.labels is None:
            raise ConfigError("--arrays needs --labels", where="--arrays", fix="pass --labels FILE.json or FILE.txt")
        return data.array_file(args.arrays, labels=args.labels)
    if args.csv is not None:
        return data.csv_table(
            args.csv, target=args.target, columns=args.columns, header=not args.no_header, delimiter=args.delimiter
        )
    return synthetic(spec, args.synthetic, seed=args.seed)


def _probe_source(args: argparse.Namespace, spec: Any) -> Any:
    from mlupdate import data
    from mlupdate.data.synthetic import synthetic

    if args.probe_synthetic is not None:
        return synthetic(spec, args.probe_synthetic, seed=args.seed + 7, labelled=False)
    path: Path | None = args.probe
    if path is None:
        return None
    if path.is_dir():
        return data.image_files(path)
    if path.suffix.lower() == ".csv":
        return data.csv_table(
            path, target="", columns=args.columns, header=not args.no_header, delimiter=args.delimiter
        )
    return data.array_file(path)


def run_job_command(args: argparse.Namespace) -> int:
    from mlupdate.bundle import read_job, write_job
    from mlupdate.data import fit_probe_set, fit_training_set
    from mlupdate.models.files import open_model
    from mlupdate.output_folder import owned_output

    if args.probe is not None and args.probe_synthetic is not None:
        raise ConfigError("pass --probe or --probe-synthetic, not both", where="--probe", fix="keep one of them")
    spec = open_model(args.model).require_spec("a job")
    training = fit_training_set(_training_source(args, spec), spec, mode=args.fit, classes=args.classes)
    probe_source = _probe_source(args, spec)
    probe = fit_probe_set(probe_source, spec, mode=args.fit) if probe_source is not None else None
    inputs = [
        p for p in (args.model, args.images, args.labelled_files, args.arrays, args.labels, args.csv, args.probe) if p
    ]
    with owned_output(args.output, command="job", force=args.force, inputs=inputs) as output:
        written = write_job(
            output.staging,
            model_path=args.model,
            training=training,
            probe=probe,
            parameters=parse_overrides(args.set),
            events=args.events,
            repeat=args.repeat,
            job_id=args.job_id,
        )
        output.publish(written)
    job = read_job(args.output)
    features = ", ".join(f"{f.name} ({f.kind})" for f in job.training.features)
    print(f"job bundle {args.output}  (job id {job.job_id})")
    print(f"  model     {job.model_path.name}")
    print(f"  training  {job.training.count} examples: {features}")
    if job.probe is not None:
        print(f"  probe     {job.probe.count} examples")
    print(f"  overrides {job.parameters or 'model defaults'}; events {', '.join(job.events)}")
    print(f"next: mlharness reference {args.output} -o out/reference")
    return EXIT_OK
