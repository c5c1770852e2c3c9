"""``pyctr-runtime``: runc's command line over pyctr's process model.

containerd's shim, conmon (podman, and pyctr's own detached containers) and
the OCI conformance tools run a container runtime as one executable with
runc's subcommands and flags. This package is that executable:

* :mod:`.cli` parses runc's command line (urfave/cli's grammar) and reports
  errors the way callers read them back (``--log-format json``);
* :mod:`.config` checks a bundle's config.json (runtime-spec 1.1) and turns
  it into a :class:`pyctr.runtime.plan.Plan` plus the namespaces, id maps,
  cgroup and seccomp the launch needs; what pyctr cannot do is refused in one
  line naming the field;
* :mod:`.state` keeps each container's state under ``--root``;
* :mod:`.create`, :mod:`.commands`, :mod:`.execute` are the subcommands.

The container's init is started by :mod:`pyctr.runtime.launch`, the same code
``pyctr run`` uses: after ``create`` exactly one process remains, the future
PID 1, waiting on the exec fifo for ``start``.
"""
