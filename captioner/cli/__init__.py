"""The command line (`captioner <command>`): argument parsing and exit statuses; the work is done by the library."""

from captioner.cli.main import main

__all__ = ["main"]
