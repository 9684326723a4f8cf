"""The catalogue of benchmark cases, registered explicitly family by family."""

from visdet.benchmark.cases import layers, models, ops  # noqa: F401  (registers the cases)
from visdet.benchmark.cases.base import (
    IMPLS,
    Case,
    ComponentUnavailable,
    Workload,
    register,
    registered_cases,
)

__all__ = ["IMPLS", "Case", "ComponentUnavailable", "Workload", "register", "registered_cases"]
