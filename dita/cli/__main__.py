"""``python -m dita.cli``: the same as the ``dita`` command."""

from dita.cli import main

main()
