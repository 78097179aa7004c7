"""``python -m fis``: the command line."""

from fis.cli import main

main()
