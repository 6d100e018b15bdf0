"""User-facing errors: one line that names the problem, never a traceback."""

import sys
from collections.abc import Callable


class UserError(Exception):
    """A mistake in params, input files or paths that the user can fix; its message is one line."""


def run_main(main: Callable[[list[str]], int | None]) -> None:
    """Run a stage's or a command's main(argv) and exit with the status it returns (0 for None).

    A UserError, or an OSError from the file system (a full disk, a missing permission), prints one line
    `error: ...` and exits with status 2. Stages and the `colorize` command both end here.
    """
    try:
        status = main(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(status or 0)
