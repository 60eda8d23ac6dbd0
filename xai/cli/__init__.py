"""The ``xai`` command line: :mod:`xai.cli.main` builds the parser from one module per
subcommand (``demo``, ``train``, ``evaluate``, ``explain``, ``report``, ``dashboard``,
``bench``); :mod:`xai.cli.common` holds the argument checks they share."""

from xai.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
