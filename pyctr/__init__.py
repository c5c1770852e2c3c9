"""pyctr: a daemonless, Docker-compatible container engine built from plugins.

Writing a plugin
================

pyctr has two plugin mechanisms, each for one job.

**Drivers** (one is chosen by name): storage, network, volume and cgroup.
A driver is a class that subclasses the ABC of its kind in
:mod:`pyctr.core.drivers` and is published under the entry point group of
its kind::

    # setup.cfg of your distribution
    [options.entry_points]
    pyctr.storage =
        mystore = mystore.driver:MyStoreStorageDriver

``pyctr --storage-driver=mystore run ...`` then imports only that module.
Its ``probe()`` classmethod must be cheap and raise
:class:`~pyctr.core.drivers.DriverNotSupported`,
:class:`~pyctr.core.drivers.PrerequisitesMissing` or
:class:`~pyctr.core.drivers.IncompatibleFilesystem` with one sentence a user
can act on when the driver cannot work on this host.

**Hook plugins** (many contribute): modules or objects whose functions are
marked with :data:`hookimpl` and named after a spec in
:mod:`pyctr.core.hookspecs`::

    from pyctr import hookimpl

    @hookimpl
    def pyctr_modify_container_spec(spec):
        spec.labels["team"] = "blue"

published under the ``pyctr`` entry point group::

    [options.entry_points]
    pyctr =
        team = myplugin.hooks

A selected driver instance is registered as a hook plugin too, so a driver can
take part in the container lifecycle by defining hook functions as methods.

``PYCTR_DISABLE_PLUGIN_AUTOLOAD=1`` loads only pyctr's own plugins,
``PYCTR_LOAD_PLUGINS=dist1,dist2`` loads only the named distributions, and
``PYCTR_TRACE_PLUGINS=1`` prints every hook call to stderr.

Test a driver with pyctr's conformance suite:
``pytest --pyctr-driver=KIND:NAME --pyargs pyctr.testing.conformance.KIND``
(see :mod:`pyctr.testing`). The full guide is ``docs/plugins.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> object:
    # ``hookimpl`` (the marker for hook implementations: ``@hookimpl def
    # pyctr_...``) lives with the specs, imported on first use.
    if name == "hookimpl":
        from pyctr.core.hookspecs import hookimpl

        globals()["hookimpl"] = hookimpl
        return hookimpl
    raise AttributeError(f"module 'pyctr' has no attribute {name!r}")
