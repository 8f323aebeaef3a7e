"""Command-line interface: parse arguments, call the core, render results."""
