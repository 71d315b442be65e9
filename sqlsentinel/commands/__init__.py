"""Carry out the commands the CLI parsed; one module per group of commands.

Each handler takes the parsed arguments and returns the exit code; :mod:`sqlsentinel.cli`
maps exceptions to exit codes. The command line is an entry point, so this is where the
clock and the process environment are read; everything below takes them as arguments.
Heavy modules are imported inside the handlers so that ``--help`` stays fast.
"""
