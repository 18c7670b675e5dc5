"""`python -m marlspec ...` is the same as the `marlspec` command."""

from marlspec.cli import main

main()
