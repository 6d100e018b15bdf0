"""`python -m colorization.colorize ...` runs the `colorize` command."""

from .cli import main

main()
