"""The seed user stories as reproducible models and job bundles (`mlharness scenario NAME -o DIR`).

- `stickers` (seed 000): the real MNISTClassifier cut at its 128-wide dense layer + an empty k-NN;
  three pillow-drawn sketches per new sticker.
- `digits` (seed 001): the real MNISTClassifier made updatable (both dense layers); 10 real handwritten
  digits per class (scikit-learn's optdigits), 10 epochs, learning rate 0.02 as a parameter override.
- `catdog` (seeds 002, 004): a small CNN pretrained here, last two dense layers updatable; procedural
  pictures relabelled with the opposite of the model's prediction.
- `lunch` (seed 003): a binary CNN pretrained here, last layer updatable; one photo retrained with the
  opposite label, twice from the shipped model (the reset).

Everything is built offline from fixed seeds: building twice gives the same bytes.
"""

from mlupdate.scenarios.registry import SCENARIOS, Scenario, ScenarioResult, build_scenario

__all__ = ["SCENARIOS", "Scenario", "ScenarioResult", "build_scenario"]
