"""``RUN --mount``: bind (from the context or a stage), cache, tmpfs and secret mounts.

None of them ends up in the step's layer: the mount points they need are
stubs (:mod:`pyctr.build.diff`). Cache mounts live under
``ROOT/build-cache/mounts/<id>`` and are not part of the step's cache key
(their content is not an input, as in BuildKit); secrets are never in the
key either, only their ids.
"""

from __future__ import annotations

import os

from pyctr.build.errors import BuildError, DockerfileError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.build.builder import Builder
    from pyctr.build.parser import Node
    from pyctr.build.run import RunMount
    from pyctr.build.state import StageState


class BuildMount:
    def __init__(self, kind: str, target: str, fields: dict[str, str]) -> None:
        self.kind = kind
        self.target = target
        self.fields = fields
        self.key: Any = None
        self._view: str | None = None
        self._tmp: str | None = None

    def prepare(self, builder: Builder) -> RunMount:
        import shutil
        import tempfile

        from pyctr.build.run import RunMount

        f = self.fields
        readonly = f.get("readonly", f.get("ro", "")) in ("", "true") and ("readonly" in f or "ro" in f)
        if self.kind == "tmpfs":
            options = [f"size={f['size']}"] if f.get("size") else []
            return RunMount("tmpfs", self.target, options=options)
        if self.kind == "cache":
            ident = f.get("id") or self.target
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in ident)
            path = builder.engine.config.root / "build-cache" / "mounts" / safe
            made = not path.exists()
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
            if made:
                os.chown(path, int(f.get("uid", 0)), int(f.get("gid", 0)))
                os.chmod(path, int(f.get("mode", "755"), 8))
            return RunMount("bind", self.target, str(path), readonly=readonly)
        if self.kind == "secret":
            ident = f.get("id") or os.path.basename(self.target)
            source = builder.opts.secrets.get(ident)
            if source is None:
                if f.get("required") in ("true", ""):
                    if "required" in f:
                        raise BuildError(f"secret {ident} is required but was not given (--secret id={ident},src=...)")
                self._tmp = tempfile.mkdtemp(prefix="pyctr-secret-")
                source = os.path.join(self._tmp, "empty")
                open(source, "w").close()
            else:
                self._tmp = tempfile.mkdtemp(prefix="pyctr-secret-")
                copy = os.path.join(self._tmp, "secret")
                shutil.copyfile(source, copy)
                os.chown(copy, int(f.get("uid", 0)), int(f.get("gid", 0)))
                os.chmod(copy, int(f.get("mode", "0400"), 8))
                source = copy
            return RunMount("bind", self.target, source, readonly=True)
        # bind: from the context, or a stage/image
        source_path = f.get("source", f.get("src", ""))
        if f.get("from"):
            from pyctr.build.layers import writable

            stage = builder._stage_by_ref(f["from"], 10**6)
            if stage is not None:
                layers = builder.build_stage(stage).layers
            else:
                layers = builder._base_image(f["from"]).layers
            self._view = writable(builder.engine, layers[-1] if layers else None)
            root = str(builder.engine.storage.get(self._view))
        else:
            root = builder.context.root
        from pyctr.kernel.paths import secure_join

        host = secure_join(root, source_path or "/")
        if not f.get("from"):
            rel = os.path.relpath(host, root)
            if rel != "." and builder.context.excluded(rel):
                raise BuildError(f"--mount source {source_path} is excluded by .dockerignore")
        if not os.path.exists(host):
            raise BuildError(f"--mount source {source_path or '/'} does not exist")
        # a bind is read-only unless rw (writes never reach the source's layer or the context)
        rw = f.get("rw", f.get("readwrite", None))
        if rw in ("", "true"):
            self._tmp = tempfile.mkdtemp(prefix="pyctr-bind-")
            copy = os.path.join(self._tmp, "data")
            if os.path.isdir(host):
                shutil.copytree(host, copy, symlinks=True)
            else:
                shutil.copy2(host, copy)
            host = copy
            return RunMount("bind", self.target, host, readonly=False)
        return RunMount("bind", self.target, host, readonly=True)

    def release(self, builder: Builder) -> None:
        if self._view is not None:
            builder.engine.storage.remove(self._view)
            self._view = None
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def parse_mounts(builder: Builder, state: StageState, node: Node, specs: list[str],
                 vars_: dict[str, str]) -> list[BuildMount]:
    """The ``--mount`` flags of a RUN; their cache-key parts set."""
    import csv
    import io

    out = []
    for spec in specs:
        spec = builder.lexer.word(spec, vars_)
        fields: dict[str, str] = {}
        for item in next(csv.reader(io.StringIO(spec))):
            key, eq, value = item.partition("=")
            fields[key.strip().lower()] = value if eq else ""
        kind = fields.pop("type", "bind") or "bind"
        target = fields.pop("target", fields.pop("dst", fields.pop("destination", "")))
        if kind == "secret" and not target:
            target = "/run/secrets/" + (fields.get("id") or "")
        if kind not in ("bind", "cache", "tmpfs", "secret"):
            raise DockerfileError(f"--mount type={kind} is not supported (bind, cache, tmpfs, secret)",
                                  node.line, builder.df.filename)
        if not target:
            raise DockerfileError(f"--mount {spec}: a target is required", node.line, builder.df.filename)
        if not target.startswith("/"):
            target = (state.run_config.get("WorkingDir") or "/").rstrip("/") + "/" + target
        m = BuildMount(kind, target, fields)
        if kind == "bind":
            if fields.get("from"):
                src_stage = builder._stage_by_ref(fields["from"], state.index)
                origin = ("stage", builder.build_stage(src_stage).key) if src_stage else ("image", fields["from"])
            else:
                origin = ("context", _context_digest(builder, fields.get("source", fields.get("src", ""))))
            m.key = ("bind", target, origin, fields.get("source", fields.get("src", "")), "rw" in fields)
        else:
            # cache and tmpfs contents, and secret values, are not inputs of the step
            m.key = (kind, target, fields.get("id", ""))
        out.append(m)
    return out


def _context_digest(builder: Builder, source: str) -> str:
    """What a bind mount of the context shows: the checksum of that part of the context."""
    from pyctr.build.copying import checksum, source_entries

    rel = builder.context.relative(source or "/")
    st = builder.context.lstat(rel)
    if st is None:
        return "missing"
    return checksum(source_entries(builder.context, "", rel, st, ""), None, None)
