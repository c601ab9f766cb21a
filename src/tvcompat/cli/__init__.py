"""The ``tvcompat`` command (also ``python -m tvcompat``).

Commands: ``doctor``, ``models``, ``weights``, ``download``, ``cache list|verify``,
``migrate`` and ``run`` (which passes on the exit code of the command it runs);
``tvcompat COMMAND --help`` describes each. Listing commands take ``--json``.

Exit codes: 0 ok; 1 a problem was found (a failed handshake, a corrupt cached file, a failed
download, files ``migrate --check`` would change, a file that cannot be parsed); 2 the command
could not run as asked (usage error, unknown model or weights name, missing optional extra).

``weights``, ``models``, ``cache list`` and ``doctor`` (without ``--online``) import neither
torch nor torchvision: they read tvcompat's catalog and the installed versions' metadata.

Each command is one module of this package (:class:`Command`); shared output helpers are in
``_output``, the TLS probe of ``doctor --online`` in ``_tls``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from tvcompat._settings import get_settings
from tvcompat.cli import cache, doctor, download, migrate, models, run, weights
from tvcompat.cli._output import OK, PROBLEM, USAGE
from tvcompat.errors import DownloadError, TvcompatError

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


class Command(Protocol):
    """What a command module defines."""

    NAME: str
    HELP: str
    """one line, for ``tvcompat --help``"""
    DESCRIPTION: str
    """for ``tvcompat NAME --help``"""
    NEEDS_VALID_SETTINGS: bool
    """an invalid setting (environment variable) is a usage error, checked before :func:`run`"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int:
        """Run the command; raise :class:`~tvcompat.errors.TvcompatError` (exit code 2)
        when the request is wrong; return the exit code otherwise."""
        ...


#: the commands, in the order ``tvcompat --help`` lists them
COMMANDS: tuple[Command, ...] = (doctor, models, weights, download, cache, migrate, run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvcompat",
        description="torchvision compatibility: versions, weights, downloads and migration. "
        "Exit codes: 0 ok, 1 problem found, 2 usage error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command_parser = sub.add_parser(
            command.NAME, help=command.HELP, description=command.DESCRIPTION
        )
        command.add_arguments(command_parser)
        command_parser.set_defaults(run=command.run, check_settings=command.NEEDS_VALID_SETTINGS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    if args.check_settings:
        invalid = [s for s in get_settings() if s.error is not None]
        for setting in invalid:
            print(f"tvcompat {args.command}: error: {setting.error}", file=sys.stderr)
        if invalid:
            return USAGE
    try:
        result: int = args.run(args)
    except DownloadError as exc:  # a failed download or an unusable cache: a problem found
        print(f"tvcompat {args.command}: error: {exc}", file=sys.stderr)
        return PROBLEM
    except TvcompatError as exc:  # cli._output.UsageError is one too
        # unknown model or weights names, weights that do not fit the model, a builder
        # newer than the installed torchvision, no legacy weights: the request is wrong
        print(f"tvcompat {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:  # `tvcompat models | head`
        return OK
    except OSError as exc:  # the environment (a folder that cannot be read or written...)
        print(f"tvcompat {args.command}: error: {_os_error(exc)}", file=sys.stderr)
        return PROBLEM
    except KeyboardInterrupt:
        print(f"tvcompat {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    return result


#: the exit code after Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason
