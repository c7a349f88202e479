"""The one exception users see: a mistake they can fix, printed as a single line."""


class LlmtsError(Exception):
    """A user-facing error: bad file, value or model name. Printed as ``llmts: error: <msg>``."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message (cut to ``limit`` characters), or its type's name:
    what a one-line error quotes of a library's multi-line exception."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__
