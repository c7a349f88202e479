"""The one exception users see: a mistake they can fix, printed as a single line."""


class LlmtsError(Exception):
    """A user-facing error: bad file, value or model name. Printed as ``llmts: error: <msg>``."""
