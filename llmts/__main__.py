"""``python -m llmts ...`` is ``llmts ...``."""

from llmts.cli import entry

if __name__ == "__main__":
    entry()
