"""Sub-commands of the ``visdet`` command line (each module has ``add_parser``)."""
