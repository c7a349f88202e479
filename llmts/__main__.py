"""``python -m llmts ...`` is ``llmts ...``."""

from llmts.cli.main import entry

if __name__ == "__main__":
    entry()
