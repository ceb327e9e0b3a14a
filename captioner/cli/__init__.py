"""The command line (`captioner <command>`) and the tools behind it: batch captioning, the demo, model export."""

from captioner.cli.main import main

__all__ = ["main"]
