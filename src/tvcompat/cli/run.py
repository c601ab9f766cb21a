"""``tvcompat run COMMAND [ARGS ...]``: run a command with tvcompat installed in every Python
process it starts, the way ``opentelemetry-instrument`` and ``ddtrace-run`` do it.

The command gets ``PYTHONPATH`` with tvcompat's bootstrap folder first
(:mod:`tvcompat._bootstrap`, whose ``sitecustomize`` installs tvcompat when torchvision is
imported and then runs any ``sitecustomize`` that was there before) and ``TVCOMPAT_RUN=1``.
Child processes inherit both: ``subprocess``, ``multiprocessing`` with ``spawn``, DataLoader
workers, ``torchrun``'s workers, Jupyter kernels.

On POSIX the tvcompat process *becomes* the command (``os.execvpe``): same process id, so
exit codes, signals, stdin/stdout/stderr and the terminal are the command's own. On Windows
the command runs as a child process and its exit code is returned.

Exit codes: the command's; 127 when the command is not found, 126 when it cannot be executed
(as a shell does); 2 without a command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys

from tvcompat._bootstrap import RUN_VARIABLE, run_environment
from tvcompat.cli._output import OK, UsageError

__all__ = [
    "CANNOT_EXECUTE",
    "DESCRIPTION",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "NOT_FOUND",
    "add_arguments",
    "run",
]

NAME = "run"
HELP = "run a command with tvcompat installed in every Python process it starts"
DESCRIPTION = (
    "Run COMMAND with tvcompat installed in it and in every Python process it starts "
    "(subprocesses, multiprocessing spawn children, DataLoader workers, torchrun workers, "
    "Jupyter kernels): each installs tvcompat (tvcompat.install()) when it imports torchvision. "
    "Works through PYTHONPATH (a sitecustomize that also runs any sitecustomize already "
    f"there) and sets {RUN_VARIABLE}=1; {RUN_VARIABLE}=0 opts a process out. Arguments after "
    "COMMAND are the command's own. Exit code: the command's; 127 if it is not found, 126 if "
    "it cannot be executed, 2 without a command. "
    "Examples: tvcompat run python train.py --epochs 3; tvcompat run torchrun "
    "--nproc_per_node 2 train.py; tvcompat run jupyter lab"
)
#: the command's own process reports invalid settings when it uses them
NEEDS_VALID_SETTINGS = False

#: exit codes when the command cannot be started, those of a POSIX shell
NOT_FOUND, CANNOT_EXECUTE = 127, 126


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print the environment variables tvcompat run sets, as shell export lines "
        '(eval "$(tvcompat run --print-env)"), instead of running a command',
    )
    parser.usage = "%(prog)s [-h] [--print-env] COMMAND [ARGS ...]"
    parser.add_argument(
        "argv",
        nargs=argparse.REMAINDER,
        metavar="COMMAND [ARGS ...]",
        help="the command and its arguments, passed on unchanged",
    )
    parser.set_defaults(run_parser=parser)


def run(args: argparse.Namespace) -> int:
    command: list[str] = list(args.argv)
    if command[:1] == ["--"]:  # `tvcompat run -- cmd`
        command = command[1:]
    changes = run_environment(os.environ)
    if args.print_env:
        if command:
            _usage(args)
            raise UsageError("--print-env takes no command")
        for name, value in changes.items():
            print(f"export {name}={shlex.quote(value)}")
        return OK
    if not command:
        _usage(args)
        raise UsageError("no command given, e.g. tvcompat run python train.py")
    env = {**os.environ, **changes}
    if sys.platform == "win32":  # pragma: no cover - CI runs on POSIX
        return _spawn(command, env)
    return _exec(command, env)


def _usage(args: argparse.Namespace) -> None:
    parser = getattr(args, "run_parser", None)
    if parser is not None:
        parser.print_usage(sys.stderr)


def _cannot_start(command: list[str], exc: OSError) -> int:
    if isinstance(exc, FileNotFoundError):
        print(f"tvcompat run: error: command not found: {command[0]}", file=sys.stderr)
        return NOT_FOUND
    reason = exc.strerror or str(exc)
    print(f"tvcompat run: error: cannot execute {command[0]}: {reason}", file=sys.stderr)
    return CANNOT_EXECUTE


def _exec(command: list[str], env: dict[str, str]) -> int:
    """Become the command (returns only if it cannot be started)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:  # FileNotFoundError, PermissionError, ENOEXEC ...
        return _cannot_start(command, exc)


def _spawn(command: list[str], env: dict[str, str]) -> int:  # pragma: no cover - Windows
    """Run the command as a child process and return its exit code (Windows has no exec)."""
    executable = shutil.which(command[0], path=env.get("PATH"))
    if executable is None:
        return _cannot_start(command, FileNotFoundError(command[0]))
    try:
        process = subprocess.Popen([executable, *command[1:]], env=env)
    except OSError as exc:
        return _cannot_start(command, exc)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # the console sent Ctrl+C to the command too: wait for it
            continue
