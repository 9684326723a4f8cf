"""Root pytest configuration: the parity report plugin, and torch's global state per test."""

# parity first, before torch computes anything: it pins MKL's code path (see parity/__init__.py)
import parity  # noqa: F401, I001
import pytest
import torch

pytest_plugins = ["parity.plugin"]


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """Undo changes a test makes to torch's thread count or determinism switch.

    Benchmarks and training tests set these on purpose; without this a later test on the
    same xdist worker would run with, say, one thread, which changes the reduction order
    (and so the last bits) of convolution gradients.
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if torch.are_deterministic_algorithms_enabled() != deterministic:
        torch.use_deterministic_algorithms(deterministic)
