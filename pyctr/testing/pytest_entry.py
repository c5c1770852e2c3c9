"""What pyctr's ``pytest11`` entry point loads in every pytest session where pyctr is installed.

Only the ``--pyctr-driver`` option: pyctr's fixtures, markers and collection
hooks (pyctr.testing.pytest_plugin) stay out of other projects' test
sessions. They are active with ``-p pyctr.testing.pytest_plugin`` (or
``pytest_plugins = ["pyctr.testing.pytest_plugin"]`` in a conftest), or when
``--pyctr-driver`` is given, as a driver author runs a conformance kit::

    pytest --pyctr-driver=volume:mydriver --pyargs pyctr.testing.conformance.volume
"""

from __future__ import annotations

from typing import Any

PLUGIN = "pyctr.testing.pytest_plugin"


def add_driver_option(parser: Any) -> None:
    group = parser.getgroup("pyctr")
    try:
        group.addoption("--pyctr-driver", action="append", default=[], metavar="KIND:NAME",
                        help="run pyctr's conformance suite of KIND against the driver NAME "
                             "(activates pyctr's pytest plugin)")
    except ValueError:
        pass  # added already (pyctr's plugin and this entry point both loaded)


def pytest_addoption(parser: Any) -> None:
    add_driver_option(parser)


def pytest_configure(config: Any) -> None:
    if config.getoption("--pyctr-driver") and not config.pluginmanager.has_plugin(PLUGIN):
        import importlib

        config.pluginmanager.register(importlib.import_module(PLUGIN), PLUGIN)
