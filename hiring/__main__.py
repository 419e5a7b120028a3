"""``python -m hiring``: see ``hiring/cli.py``."""

from hiring.cli import main

main()
