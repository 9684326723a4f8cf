"""asv benchmark suites for visdet, one module per component family."""
