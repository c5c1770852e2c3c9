"""``pyctr build``: Dockerfiles as BuildKit defines them, layers from overlayfs upper directories.

* :mod:`~pyctr.build.parser`, :mod:`~pyctr.build.shell`, :mod:`~pyctr.build.ignore`:
  the pure parts (the Dockerfile's syntax, variable expansion, ``.dockerignore``).
* :mod:`~pyctr.build.instructions`: what the metadata instructions do to an image
  config (shared with ``import --change`` and ``commit --change``).
* :mod:`~pyctr.build.context`, :mod:`~pyctr.build.copying`: the build context and
  COPY/ADD; :mod:`~pyctr.build.diff`: a layer tar from an upper directory;
  :mod:`~pyctr.build.steps`, :mod:`~pyctr.build.builder`: stages, RUN, the cache.
"""
