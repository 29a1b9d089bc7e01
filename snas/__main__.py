"""``python -m snas``: the ``snas`` command line."""

from snas.frontends.cli import main

main()
