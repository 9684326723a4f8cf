"""``ConfigError``: every problem with a config file or value, in one exception type.

Messages are meant to be read by a person: they name the file (with line and column for
syntax errors), the config path (``model.backbone.depth``) and what would be accepted.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config could not be read, resolved or validated.

    Subclasses ``ValueError`` so callers that catch bad values keep working; the command
    line prints ``str(err)`` as a one-line error and exits with code 2.
    """
