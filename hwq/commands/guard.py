"""The one error policy of every ``hwq`` subcommand.

User errors (HwqError) print one line on stderr and exit 1; anything unexpected prints one
"internal error" line (HWQ_DEBUG=1 re-raises it for a traceback). Never a traceback otherwise.
An OS error that reached here (a file hwq could not read or write) is the user's environment,
not a bug: one line, exit 1. A closed stdout (``hwq run ... | head -1``) ends quietly with
exit code 0: the reader chose to stop reading. That is also what happens when the whole output
fit in the pipe before the reader left, or when Python only notices the closed pipe at exit,
so the exit code does not depend on timing.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from hwq.errors import HwqError


def fail(msg: str) -> None:
    click.echo(f"hwq: error: {msg}", err=True)
    sys.exit(1)


def _quiet_broken_pipe() -> None:
    # stdout's reader is gone: point stdout at /dev/null so the final flush cannot fail again
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. under a test runner)
        pass
    sys.exit(0)


def guarded(fn):
    """Turn every failure into one line on stderr and exit code 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HwqError as e:
            fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except MemoryError:
            fail("out of memory")
        except BrokenPipeError:
            _quiet_broken_pipe()
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            fail(f"{where}{e.strerror or type(e).__name__}")
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # a bug in hwq; still one line unless debugging
            if os.environ.get("HWQ_DEBUG"):
                raise
            fail(f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                 "(set HWQ_DEBUG=1 for a traceback)")

    return wrapper
