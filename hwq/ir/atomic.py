"""File output that never destroys anything: every hwq output goes through :func:`atomic_write`.

What happens to the target path (docs/architecture.md, "Outputs"):

- **a regular file, new or existing**: written to a temporary file in the same directory,
  flushed to disk, then renamed over the target, so no reader ever sees a half-written file
  and on any error the target is left as it was. An existing file keeps its permission bits
  (and, when hwq runs as root, its owner). A hard link to the old file keeps the old content.
- **a symlink**: followed; the file it finally points to is replaced as above and the link
  stays a link. A dangling link creates its target, like a shell redirection.
- **a character device or FIFO** (``/dev/null``, a named pipe), and any path reached through
  ``/dev/`` or ``/proc/`` (``/dev/stdout``, ``/dev/fd/3``: an open file of the caller): written
  *through*, never replaced. The content is produced completely first (in an anonymous
  temporary file), so a failure while producing it writes nothing. A regular file reached
  that way (``-o /dev/stdout > f``) is appended to, so a shell's ``>>`` keeps what it had.
- **anything else** (a directory, a block device, a socket) is refused.

OS errors (no space left, name too long, permission denied, a parent that is a file) become
one :class:`OutputError` line naming the path. :func:`check_output` runs the same checks
before a command does any work, and :func:`refuse_inputs` refuses an output that is one of
the command's own inputs.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from hwq.errors import IRError

_PASS_THROUGH_ROOTS = ("/dev/", "/proc/")


class OutputError(IRError):
    """An output path that hwq cannot, or will not, write."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _special(path: str) -> bool:
    """Under /dev or /proc (but not the ordinary files of /dev/shm): an open file, a device."""
    path += "/"
    return path.startswith(_PASS_THROUGH_ROOTS) and not path.startswith("/dev/shm/")


def _resolve(path: Path) -> tuple[str, Path, os.stat_result | None]:
    """(how, where, stat): how is "replace" (atomic rename at where) or "through" (write into it)."""
    absolute = os.path.abspath(path)
    try:
        st = os.stat(path)  # follows links as open() does, /proc's magic links included
    except FileNotFoundError:
        st = None
    except OSError as e:  # name too long, a parent that is a file, permission denied...
        raise OutputError(f"{path}: cannot write ({_reason(e)})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path}: is a directory")
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return "through", Path(absolute), st
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{path}: is not a regular file, a character device or a FIFO; "
                              "refusing to write it")
    if _special(absolute) or _special(os.path.realpath(path)):
        if st is None:
            raise OutputError(f"{path}: no such file (hwq creates no new files under /dev or /proc)")
        return "through", Path(absolute), st
    return "replace", Path(os.path.realpath(path)), st


def check_output(path: str | os.PathLike) -> None:
    """Fail early, before any work, if ``path`` cannot be written as :func:`atomic_write` would."""
    path = Path(path)
    if not str(path) or str(path).endswith(os.sep):
        raise OutputError(f"{path!s}: not a file name")
    how, where, st = _resolve(path)
    if how == "through":
        if not os.access(where, os.W_OK):
            raise OutputError(f"{path}: cannot write (permission denied)")
        return
    parent = where.parent
    try:
        pst = os.stat(parent)
    except FileNotFoundError:
        raise OutputError(f"{parent}: output directory does not exist") from None
    except OSError as e:  # e.g. a parent component that is a file
        raise OutputError(f"{path}: cannot write ({_reason(e)})") from None
    if not stat.S_ISDIR(pst.st_mode):
        raise OutputError(f"{parent}: is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{parent}: output directory is not writable")
    if st is not None and not os.access(where, os.W_OK):
        raise OutputError(f"{path}: is read-only; refusing to replace it")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(where.name)) > name_max:
        raise OutputError(f"{path}: file name longer than {name_max} bytes")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (through symlinks and hard links too)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_inputs(output: str | os.PathLike | None, inputs: Iterable[str | os.PathLike | None],
                  what: str = "output") -> None:
    """Refuse an output that names (through links too) one of the command's own inputs."""
    if output is None:
        return
    for src in inputs:
        if src is not None and same_file(output, src):
            raise OutputError(f"{what} {output} is the input {src}; choose another file name")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary binary file, then put it at ``path`` (see module doc)."""
    path = Path(path)
    check_output(path)
    how, where, st = _resolve(path)
    try:
        if how == "through":
            _write_through(where, write)
        else:
            _replace(where, st, write)
    except BrokenPipeError:
        raise  # -o /dev/stdout into a closed pipe: the command's guard ends quietly
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({_reason(e)})") from None


def _write_through(where: Path, write: Callable[[BinaryIO], None]) -> None:
    with tempfile.TemporaryFile() as buf:
        write(buf)
        buf.flush()
        buf.seek(0)
        fd = os.open(where, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(buf, out, 1 << 20)


def _replace(where: Path, st: os.stat_result | None, write: Callable[[BinaryIO], None]) -> None:
    # a short temporary name: a target name near NAME_MAX must still work
    fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=".hwq-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if st is None:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        else:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0:
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:
                    pass
        os.replace(tmp, where)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_stdout(path: str | os.PathLike | None) -> bool:
    """Whether ``path`` is this process's standard output (``-o /dev/stdout``): then the
    command's messages go to stderr, so they do not mix with the file."""
    if path is None:
        return False
    try:
        a, b = os.stat(path), os.fstat(1)
    except (OSError, ValueError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
