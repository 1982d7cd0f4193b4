"""`python -m pvemu`: the `pvemu` command."""
import sys

from pvemu.cli import main

sys.exit(main())
