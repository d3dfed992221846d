"""CSV tables with or without a header and with any delimiter; synthetic examples that fit the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetworkBuilder, datatypes
from mlupdate.data import csv_table, fit_training_set
from mlupdate.data.synthetic import synthetic
from mlupdate.errors import DataError
from mlupdate.models.updatable import Loss, Sgd, make_updatable


def test_a_headerless_table_names_its_columns_by_position(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("1;2;a\n3;4;b\n")
    rows = list(csv_table(table, header=False, delimiter=";"))
    assert [r.label for r in rows] == ["a", "b"] and rows[1].value.tolist() == [3.0, 4.0]
    assert [r.label for r in csv_table(table, header=False, delimiter=";", target="0", columns=["1"])] == ["1", "3"]


def test_a_row_of_another_width_names_the_delimiter_as_a_possible_cause(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("1;2;a\n3;4;b\n")
    with pytest.raises(DataError, match="pass the file's delimiter"):
        csv_table(_two_widths(tmp_path), header=False)
    with pytest.raises(DataError, match="one character"):
        csv_table(table, delimiter="::")


def _two_widths(tmp_path: Path) -> Path:
    path = tmp_path / "w.csv"
    path.write_text("1,2,a\n3;4;b\n")
    return path


def test_synthetic_examples_index_embedding_tables_within_their_vocabulary() -> None:
    builder = NeuralNetworkBuilder([("word", datatypes.Array(1))], [("probs", None)], mode="classifier")
    builder.add_embedding("embed", np.ones((4, 7)), None, 7, 4, False, "word", "e")
    builder.add_inner_product("head", np.ones((2, 4)), None, 4, 2, False, "e", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels(["x", "y"], predicted_feature_name="label", prediction_blob="probs")
    spec = make_updatable(builder.spec, ["head"], Loss("cce"), Sgd(lr=0.1, batch=2), epochs=1)
    examples = list(fit_training_set(synthetic(spec, 6, seed=3), spec))
    words = np.array([e["word"] for e in examples])
    assert words.min() >= 0 and words.max() < 7 and np.all(words == np.round(words))
    assert [e["label"] for e in examples] == ["x", "y"] * 3
    again = list(fit_training_set(synthetic(spec, 6, seed=3), spec))
    assert np.array_equal(words, np.array([e["word"] for e in again]))  # seeded: the same examples twice
