"""``Settings``: the base of the typed settings objects that modules take.

A head's test-time settings (``ProposalConfig``, ``RCNNTestConfig``, ``NMSConfig``) are
values, not config dicts: frozen, validated when made, with unknown keys as errors. They
are pydantic models, so the config boundary uses the very same classes as the schemas of
``test_cfg`` sections (one class per concept, defaults written once).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """Frozen, validated settings; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
