"""``python -m pyctr`` is the ``pyctr`` command."""

from pyctr.cli import main

main()
