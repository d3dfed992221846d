"""Device-facing half of mlupdate-harness: targets, the job runner, the device matrix, the pytest plugin, the CLI."""

__version__ = "0.1.0"
