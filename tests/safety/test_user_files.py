"""What the project writes for a user looks like what the user would have made: modes from their umask, no
predictable temporary names; and what the user hands in as a model or as training data is refused at once when
it is no file."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle import write_job
from mlupdate.bundle.golden_models import index_classifier
from mlupdate.data import SetFeature, from_arrays
from mlupdate.data.sources import array_file, csv_table, read_labels
from mlupdate.errors import DataError, ModelLoadError
from mlupdate.models.spec import load_spec, save_spec
from mlupdate.output_folder import write_atomic

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
MODEL = next((CONTRACT / "jobs" / "golden-regressor" / "model").glob("*.mlmodel"))


@pytest.fixture
def umask_022():  # type: ignore[no-untyped-def]
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_models_reports_and_bundles_follow_the_umask(tmp_path: Path) -> None:
    model = save_spec(load_spec(MODEL), tmp_path / "m.mlmodel")
    report = write_atomic(tmp_path / "report.json", b"{}")
    assert mode(model) == 0o644 and mode(report) == 0o644

    features = [SetFeature("x", "multiArray", (4,), "float32"), SetFeature("probs_true", "multiArray", (1,), "int32")]
    arrays = {"x": np.zeros((3, 4), np.float32), "probs_true": np.zeros((3, 1), np.int32)}
    written = write_job(
        tmp_path / "jobs",
        model_path=save_spec(index_classifier(), tmp_path / "index.mlmodel"),
        training=from_arrays(features, arrays),
        job_id="umask-1",
    )
    assert mode(written) == 0o755
    assert all(mode(p) == (0o755 if p.is_dir() else 0o644) for p in written.rglob("*"))


def test_temporary_files_have_unpredictable_names_in_the_target_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_open = os.open

    def spy(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        seen.append(os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    write_atomic(tmp_path / "report.json", b"1")
    write_atomic(tmp_path / "report.json", b"2")
    temporaries = [Path(p) for p in seen if p.endswith(".tmp")]
    assert len(temporaries) == 2 and temporaries[0] != temporaries[1]
    assert all(p.parent == tmp_path and len(p.name) > len(".report.json..tmp") + 12 for p in temporaries)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def refused_at_once(read: Callable[[], object], fifo: Path) -> BaseException:
    """What `read()` raised, failing the test if it blocked (the FIFO's reader is released so the thread ends)."""
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            read()
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        with open(fifo, "wb"):
            pass
        pytest.fail("the reader blocked on a FIFO")
    if not outcome:
        pytest.fail("a FIFO was read as if it were a file")
    return outcome[0]


def test_a_fifo_given_as_a_model_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "model.mlmodel"
    os.mkfifo(fifo)
    refused = refused_at_once(lambda: load_spec(fifo), fifo)
    assert isinstance(refused, ModelLoadError), refused
    assert "not a regular file" in refused.what


def test_a_device_file_given_as_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a regular file"):
        load_spec("/dev/zero")


def test_a_model_whose_weight_count_does_not_match_its_sizes_is_invalid(tmp_path: Path) -> None:
    from mlupdate.models.spec import neural_network
    from mlupdate.models.validate import validate

    spec = index_classifier()
    dense = next(layer for layer in neural_network(spec).layers if layer.name == "dense").innerProduct
    del dense.weights.floatValue[-1]  # 4 x 3 sizes, 11 weights: Core ML refuses to compile it
    issues = validate(spec)
    assert [issue.rule for issue in issues] == ["weight-count"]
    assert "holds 11 weights values, but its sizes need 12" in issues[0].message


def test_a_huge_declared_image_size_is_refused_before_any_picture_is_fitted(tmp_path: Path) -> None:
    from PIL import Image

    from mlupdate.bundle.golden_models import image_classifier
    from mlupdate.data import fit_training_set, image_folder
    from mlupdate.errors import DataError

    spec = image_classifier()
    for feature in (*spec.description.input, *spec.description.trainingInput):
        if feature.type.HasField("imageType"):  # each fitted picture would be a 1.2 GB array
            feature.type.imageType.width, feature.type.imageType.height = 20_000, 20_000
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cat" / "0.png")
    with pytest.raises(DataError, match="20000 x 20000 image"):
        list(fit_training_set(image_folder(tmp_path), spec))


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("train.csv", lambda path: csv_table(path)),
        ("x.npy", lambda path: array_file(path)),
        ("x.npz", lambda path: array_file(path)),
        ("labels.json", lambda path: read_labels(path)),
    ],
)
def test_a_fifo_given_as_training_data_is_refused_at_once(
    tmp_path: Path, name: str, read: Callable[[Path], object]
) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    refused = refused_at_once(lambda: read(fifo), fifo)
    assert isinstance(refused, DataError), refused
    assert "not a regular file" in refused.what


@pytest.mark.parametrize("read", [csv_table, array_file, read_labels])
def test_a_device_file_given_as_training_data_is_refused_before_reading(read: Callable[[Path], object]) -> None:
    # /dev/zero as a CSV ran out of memory; /dev/null is the same kind of file, and harmless if this regresses.
    with pytest.raises(DataError, match="not a regular file"):
        read(Path("/dev/null"))
