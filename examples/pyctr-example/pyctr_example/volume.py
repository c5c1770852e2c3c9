"""A volume driver kept deliberately simple: one directory per volume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pyctr.core.drivers import VolumeDriver
from pyctr.core.errors import Conflict, NotFound, UsageError


class ExampleVolumeDriver(VolumeDriver):
    def _home(self) -> Path:
        return self.ctx.root / "example-volumes"

    def path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise UsageError(f"invalid volume name {name!r}")
        return self._home() / name / "data"

    def create(self, name: str, options: dict[str, str]) -> None:
        if options:
            raise UsageError(f"the example driver takes no options (got {', '.join(sorted(options))})")
        data = self.path(name)
        data.mkdir(parents=True, exist_ok=True)
        refs = data.parent / "refs.json"
        if not refs.exists():
            refs.write_text("[]")

    def _refs(self, name: str) -> list[str]:
        try:
            return json.loads((self.path(name).parent / "refs.json").read_text())
        except FileNotFoundError:
            raise NotFound(f"no such volume: {name}") from None

    def remove(self, name: str) -> None:
        if not self.path(name).parent.exists():
            raise NotFound(f"no such volume: {name}")
        if self._refs(name):
            raise Conflict(f"volume {name} is in use")
        shutil.rmtree(self.path(name).parent)

    def mount(self, name: str, container_id: str) -> Path:
        refs = self._refs(name)
        if container_id not in refs:
            refs.append(container_id)
        (self.path(name).parent / "refs.json").write_text(json.dumps(refs))
        return self.path(name)

    def unmount(self, name: str, container_id: str) -> None:
        refs = [r for r in self._refs(name) if r != container_id]
        (self.path(name).parent / "refs.json").write_text(json.dumps(refs))

    def list(self) -> list[str]:
        return sorted(p.name for p in self._home().iterdir()) if self._home().is_dir() else []
