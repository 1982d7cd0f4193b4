"""`python -m emu`: a shim that runs the `pvemu` command (pvemu/cli.py).
The only module of emu that imports the command line: the library itself
stays below it (tests/test_layering.py)."""
import sys

from pvemu.cli import main

sys.exit(main())
