"""Root pytest configuration: the parity report plugin applies to every run."""

pytest_plugins = ["parity.plugin"]
