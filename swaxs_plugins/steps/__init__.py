"""The built-in step plugins, one module per step kind; each is declared in ``entrypoints.cfg``."""
