"""Device-free core of mlupdate-harness: models, data, bundles, the reference trainer, compiled models, parity."""

__version__ = "0.1.0"
