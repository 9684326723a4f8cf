"""``ConfigNode``: one config file and the bases it inherits from (the ``_base_`` tree)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConfigNode:
    """One config file and the bases it inherits from (the ``_base_`` tree).

    Attributes:
        source: A file path, or ``preset:<group>/<name>`` for a packaged preset.
        bases: The nodes of its ``_base_`` entries, in order.
        config: The file's resolved config (its bases merged in).
    """

    source: str
    bases: list[ConfigNode] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def render(self, indent: str = "") -> str:
        """The tree as indented text, one source per line."""
        lines = [f"{indent}{self.source}"]
        for base in self.bases:
            lines.append(base.render(indent + "  "))
        return "\n".join(lines)
