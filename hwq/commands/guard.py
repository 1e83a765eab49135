"""The one error policy of every ``hwq`` subcommand.

User errors (HwqError) print one line on stderr and exit 1; anything unexpected prints one
"internal error" line (HWQ_DEBUG=1 re-raises it for a traceback). Never a traceback otherwise.
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
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # a bug in hwq; still one line unless debugging
            if os.environ.get("HWQ_DEBUG"):
                raise
            fail(f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                 "(set HWQ_DEBUG=1 for a traceback)")

    return wrapper
