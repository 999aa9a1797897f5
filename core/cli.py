"""What every command line does with a user's ordinary mistakes: one line, `error: <path>: <what to do>`, a
non-zero exit, no traceback. `@command_line` wraps a `main(argv) -> int` so that a file system error anywhere
below it (a folder that is a file, a read-only or full disk) ends that way."""
from __future__ import annotations

import errno
import functools
import sys
from typing import Callable

ADVICE = {
    errno.ENOSPC: "the disk is full; free some space or write somewhere else",
    errno.EDQUOT: "the disk quota is used up; free some space or write somewhere else",
    errno.EROFS: "that file system is read-only; choose a folder you can write to",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EEXIST: "a file is in the way of a folder there; choose another path",
    errno.EISDIR: "that is a folder; give a file name",
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
}


def first_line(error: BaseException) -> str:
    """The first line of an error's text (at most 200 characters), for one-line messages."""
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def describe_os_error(error: OSError) -> str:
    """`<path>: <reason>; <what to do>` for a file system error."""
    where = error.filename if error.filename is not None else "a file"
    reason = error.strerror or str(error)
    advice = ADVICE.get(error.errno, "check the path and the disk")
    return f"{where}: {reason} ({advice})"


def command_line(main: Callable[..., int]) -> Callable[..., int]:
    """Turn a file system error escaping `main` into one `error:` line and exit status 1."""
    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except BrokenPipeError:  # the reader went away (`... | head`): nothing is wrong with the command
            sys.stderr.close()
            return 0
        except OSError as error:
            print(f"error: {describe_os_error(error)}", file=sys.stderr)
            return 1

    return wrapped
