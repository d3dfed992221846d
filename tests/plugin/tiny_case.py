"""The source of a pytester test module holding one tiny parity case, `TINY` (a 4-3 softmax classifier trained
for two epochs at step level); each plugin test appends the test function it runs."""

TINY_CASE_MODULE = """
import numpy as np

from mlharness.pytest_plugin import Expect, ParityCase
from mlupdate.data.examples import from_arrays, set_feature
from mlupdate.models.build import ArrayInput, Classifier, Dense, SequentialNetwork, Sgd, Softmax, build_network
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import load_spec, save_spec


def model(folder):
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (4,))],
        layers=[Dense("fc", 3, updatable=True), Softmax()],
        head=Classifier(("a", "b", "c")),
        optimizer=Sgd(lr=0.1, batch=2),
        epochs=2,
        shuffle=False,
    )
    return save_spec(build_network(network, seed=3), folder / "Tiny.mlmodel")


def training(model_path):
    features = [set_feature(f, where="tiny") for f in training_inputs(load_spec(model_path))]
    x = np.random.default_rng(0).uniform(-1, 1, size=(6, 4))
    return from_arrays(features, {features[0].name: x, features[1].name: ["a", "b", "c", "a", "b", "c"]})


TINY = ParityCase.of("tiny", model=model, training=training, parameters={"epochs": 2}, expect=Expect(level="step"))
"""
