"""``visdet parity check``: prove parity on your own mmdet config, checkpoint and images.

Run where mmdet 3.x is installed::

    visdet parity check CONFIG.py CHECKPOINT.pth IMAGES_OR_FOLDER... [--out report.md]

or from Python, :func:`check_parity`. See :mod:`visdet.apis.parity_check.runner` for
the steps and :mod:`visdet.apis.parity_check.report` for the verdict and exit codes.
"""

from visdet.apis.parity_check.report import ParityReport, Tolerances
from visdet.apis.parity_check.runner import check_parity

__all__ = ["ParityReport", "Tolerances", "check_parity"]
