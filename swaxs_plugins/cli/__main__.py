"""``python -m swaxs_plugins.cli``: the ``swaxs`` command."""

from swaxs_plugins.cli import main

main()
