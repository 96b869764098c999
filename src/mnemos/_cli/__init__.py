"""Sub-commands of the ``mnemos`` command line, one module per group."""
