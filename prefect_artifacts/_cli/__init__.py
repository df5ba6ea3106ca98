"""The ``prefect-artifacts`` command line: a thin layer over the `Registry` interface."""
