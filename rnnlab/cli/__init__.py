"""The command line, its own package: `entry` (main and the subcommand table), `parser` and
`flags` (what argparse reads), one module per subcommand family. Imports no torch."""

from rnnlab.cli.entry import main

__all__ = ["main"]
