"""Subcommands of the ``temix-gateway`` console script (see :mod:`gateway.cli`)."""
