"""``python -m ragplatform``."""

from ragplatform.cli import main

main()
