"""The one exception users see: a mistake they can fix, printed as a single line."""


class LlmtsError(Exception):
    """A user-facing error: bad file, value or model name. Printed as ``llmts: error: <msg>``."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message (cut to ``limit`` characters), or its type's name:
    what a one-line error quotes of a library's multi-line exception."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def exit_on_error(app: str, fn, *args, **kwargs):
    """Run ``fn``; an :class:`LlmtsError` ends the process as one line on stderr and exit 2."""
    import sys

    try:
        return fn(*args, **kwargs)
    except LlmtsError as exc:
        print(f"{app}: error: {exc}", file=sys.stderr)
        sys.exit(2)
