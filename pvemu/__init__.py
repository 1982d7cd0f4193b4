"""The `pvemu` command line, on top of the library (emu) and the supervisor
(paravirt): cli.py builds the parser, one module per subcommand does the
work (run.py, session.py for a machine's run and `restore`, supervised.py
for `up` and `--supervised`, bench.py).  Nothing below imports it."""
