"""``pyctr system service``: the Docker Engine API (v1.41) over a unix socket.

The docker CLI, docker-py, docker-compose and testcontainers speak this API;
the service answers them with the same core, images and runtime code as
pyctr's own command line (it never imports :mod:`pyctr.cli`), so a container
made through one front end is the same record the other sees.

Modules:

* :mod:`pyctr.api.server`: the socket (path, mode, systemd activation, TCP on
  loopback when asked), idle exit, SIGTERM.
* :mod:`pyctr.api.http`: one request: routing, JSON bodies (chunked too),
  Docker's error shape, chunked streams and hijacked connections.
* :mod:`pyctr.api.routes`: the route table. ``@route("GET", "/containers/{id}/json")``
  in any module listed in :data:`pyctr.api.routes.ROUTE_MODULES` adds an endpoint.
* :mod:`pyctr.api.launcher`: a single-threaded helper process that forks the
  work that must not be forked from a threaded server (container starts and
  their monitors, exec, pulls).
* one module per family of endpoints: system, containers, attach, images, ...
"""
