"""The ``bootvid`` command line."""
