"""``python -m pyctr`` is the ``pyctr`` command."""

from pyctr.core.cli import main

main()
