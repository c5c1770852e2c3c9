"""The steps that make layers: RUN, COPY and ADD, each through the cache."""

from __future__ import annotations

import copy
import os
import stat

from pyctr.build.cache import step_key
from pyctr.build.dockerfile import parse_flags
from pyctr.build.errors import BuildError, DockerfileError
from pyctr.build.imageconfig import now as timestamp
from pyctr.build.imageconfig import short_id
from pyctr.build.copying import source_entries
from pyctr.build.parser import Node, parse_heredoc
from pyctr.build.shell import ExpansionError, Lexer

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import Any

    from pyctr.build.builder import Builder
    from pyctr.build.layers import NewLayer
    from pyctr.build.state import StageState


def _fail(builder: Builder, node: Node, message: str) -> DockerfileError:
    return DockerfileError(message, node.line, builder.df.filename)


def _expand(builder: Builder, node: Node, text: str, vars_: dict[str, str]) -> str:
    try:
        return builder.lexer.word(text, vars_)
    except ExpansionError as e:
        raise _fail(builder, node, str(e)) from None


def _use_cache(builder: Builder, state: StageState, key: str, created_by: str) -> bool:
    """Take the cached result of a step (or one from a ``--cache-from`` image); True on a hit."""
    cached = None if builder.opts.no_cache else builder.cache.get(key)
    if cached is None and not builder.opts.no_cache:
        cached = builder._from_cache_images(state, created_by, empty=False)
        if cached is not None:
            builder.cache.put(key, cached)
    if cached is None:
        return False
    state.restore(cached)
    state.key = key
    builder.cache.touch(key)
    builder.out.line(" ---> Using cache")
    builder.out.line(f" ---> {short_id(state.config)}")
    return True


def _add_layer(builder: Builder, state: StageState, key: str, layer: NewLayer, created_by: str) -> None:
    config = copy.deepcopy(state.config)
    now = timestamp(builder.opts.epoch)
    config["created"] = now
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []}).setdefault("diff_ids", []).append(layer.diff_id)
    entry: dict[str, Any] = {"created": now, "created_by": created_by}
    if config.get("author"):
        entry["author"] = config["author"]
    config.setdefault("history", []).append(entry)
    state.config = config
    state.layers = state.layers + [layer.layer_id]
    state.key = key
    builder.cache.put(key, state.snapshot())
    builder.out.line(f" ---> {short_id(state.config)}")


# ------------------------------------------------------------------------ RUN --
def run_instruction(builder: Builder, state: StageState, node: Node) -> None:
    from pyctr.build.instructions import DEFAULT_SHELL

    flags = parse_flags(node, builder.df.filename)
    vars_ = state.expansion_vars()
    cfg = state.run_config
    shell = list(cfg.get("Shell") or DEFAULT_SHELL)
    script_mount = None
    if node.heredocs and not node.json:
        first = parse_heredoc(node.args[0]) if node.args else None
        if first is not None and first.name == node.heredocs[0].name and node.args[0].strip().startswith(("<<", "0<<")) \
                and len(node.args[0].split()) == 1:
            body = node.heredocs[0].body()
            if body.startswith("#!"):
                script_mount = (node.heredocs[0].name, body)
                argv = [f"/dev/pipes/{node.heredocs[0].name}"]
            else:
                argv = shell + [body]
        else:
            text = node.args[0]
            for doc in node.heredocs:
                text += "\n" + doc.content + doc.name
            argv = shell + [text]
    elif node.json:
        argv = list(node.args)
    else:
        argv = shell + [node.args[0] if node.args else ""]
    if not argv:
        raise _fail(builder, node, "RUN requires at least one argument")
    network = str(flags["network"]) or builder.opts.network
    if flags["security"] and flags["security"] != "sandbox":
        raise _fail(builder, node, f"RUN --security={flags['security']} is not supported")
    if flags["device"]:
        raise _fail(builder, node, "RUN --device is not supported")
    proxies = {k: v for k, v in builder.opts.build_args.items() if k in _proxy_names() and v is not None}
    env = state.run_env(proxies)
    user = cfg.get("User") or ""
    workdir = cfg.get("WorkingDir") or "/"
    from pyctr.build.mounts import parse_mounts

    mounts = parse_mounts(builder, state, node, [str(m) for m in flags["mount"]], vars_)
    hist_args = state.history_args()
    shown = " ".join(argv)
    created_by = (f"|{len(hist_args)} {' '.join(hist_args)} {shown}" if hist_args else shown)
    key_env = [e for e in env if e.partition("=")[0] not in proxies or e.partition("=")[0] in state.args]
    key = step_key(state.key, "RUN", argv, key_env, user, workdir, network or "", [m.key for m in mounts],
                   script_mount)
    if _use_cache(builder, state, key, created_by):
        return
    import shutil
    import tempfile

    from pyctr.build.run import RunMount, run_step

    tmp = None
    run_mounts: list[RunMount] = []
    try:
        for m in mounts:
            run_mounts.append(m.prepare(builder))
        if script_mount is not None:
            tmp = tempfile.mkdtemp(prefix="pyctr-heredoc-")
            path = os.path.join(tmp, script_mount[0])
            with open(path, "w") as f:
                f.write(script_mount[1])
            os.chmod(path, 0o755)
            run_mounts.append(RunMount("bind", f"/dev/pipes/{script_mount[0]}", path, readonly=True))
        image_id = state.base_id or "sha256:" + "0" * 64
        layer = run_step(builder.engine, image_id=image_id, config=state.config, layers=state.layers,
                         parent_chain=state.chain, argv=argv, env=env, user=user, workdir=workdir, network=network,
                         mounts=run_mounts, out_fd=builder.out.run_fd, epoch=builder.opts.epoch,
                         describe=" ".join(argv))
    finally:
        for m in mounts:
            m.release(builder)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    _add_layer(builder, state, key, layer, created_by)


def _proxy_names() -> tuple[str, ...]:
    from pyctr.build.state import PROXY_ARGS

    return PROXY_ARGS


# ------------------------------------------------------------------ COPY / ADD --
class Source:
    """One COPY/ADD source: selected entries and where they go."""

    __slots__ = ("kind", "root", "rel", "st", "data", "name", "url", "place")

    def __init__(self, kind: str, root: str = "", rel: str = "", st: os.stat_result | None = None,
                 data: bytes = b"", name: str = "", url: str = "", place: str | None = None) -> None:
        self.kind = kind  # "path" | "heredoc" | "archive" | "url"
        self.root = root
        self.rel = rel
        self.st = st
        self.data = data
        self.name = name
        self.url = url
        self.place = place  # COPY --parents: the path below the destination


def _filtered(entries, excludes: Any, top: str):  # noqa: ANN001, ANN202
    """COPY --exclude: entries (and the subtrees of directories) whose path below the source,
    or below the context, a pattern matches are left out."""
    if excludes is None:
        yield from entries
        return
    skipped: list[str] = []
    for entry in entries:
        rel = entry.rel
        if any(rel == s or rel.startswith(s + "/") for s in skipped):
            continue
        full = f"{top}/{rel}" if top and rel else (top or rel)
        if rel and (excludes.excluded(rel) or excludes.excluded(full)):
            skipped.append(rel)
            continue
        yield entry


def copy_instruction(builder: Builder, state: StageState, node: Node) -> None:
    import shutil
    import tempfile

    from pyctr.build import copying
    from pyctr.build.context import file_digest

    is_add = node.keyword == "add"
    flags = parse_flags(node, builder.df.filename)
    vars_ = state.expansion_vars()
    chown = _expand(builder, node, str(flags["chown"]), vars_)
    chmod_text = _expand(builder, node, str(flags["chmod"]), vars_)
    chmod = copying.parse_chmod(chmod_text) if chmod_text else None
    excludes = None
    if flags["exclude"]:
        from pyctr.build.ignore import Matcher

        excludes = Matcher([_expand(builder, node, str(p), vars_) for p in flags["exclude"]])
    parents = bool(flags.get("parents"))
    checksum = _expand(builder, node, str(flags.get("checksum") or ""), vars_)
    source_from = _expand(builder, node, str(flags.get("from") or ""), vars_)
    words = node.args[:-1]
    dest_raw = _expand(builder, node, node.args[-1], vars_)
    workdir = state.run_config.get("WorkingDir") or "/"
    dest, dest_is_dir = copying.destination(dest_raw, workdir)
    heredocs = {d.name: d for d in node.heredocs}
    path_words = [w for w in words if parse_heredoc(w) is None]
    if len(words) > 1 and not dest_is_dir:
        raise _fail(builder, node, f"When using {node.keyword.upper()} with more than one source file, the "
                                   "destination must be a directory and end with a /")
    if checksum and not (is_add and len(path_words) == 1 and path_words[0].startswith(("http://", "https://"))):
        raise _fail(builder, node, "checksum requires a single HTTP(S) source")

    views: list[str] = []  # writable views mounted to read another stage or image
    tmpdirs: list[str] = []

    def select(src_root: str, src: str, hash_parts: list[Any] | None) -> list[Source]:
        out = []
        pivot = ""
        if parents and "/./" in src:
            pivot = builder.context.relative(src.split("/./", 1)[0])
        for rel, st in _select(builder, node, src_root, src):
            if excludes is not None and (excludes.excluded(rel) or excludes.excluded(os.path.basename(rel))):
                continue
            place = None
            if parents:
                place = rel[len(pivot):].lstrip("/") if pivot and rel.startswith(pivot) else rel
            host = os.path.join(src_root, rel) if src_root else builder.context.host_path(rel)
            kind = "archive" if (is_add and not source_from and stat.S_ISREG(st.st_mode)
                                 and flags.get("unpack") is not False and copying.is_archive(host)) else "path"
            out.append(Source(kind, root=src_root, rel=rel, st=st, place=place))
            if hash_parts is None:
                continue
            if kind == "archive":
                hash_parts.append(("archive", rel, place, file_digest(host)))
            else:
                entries = _filtered(source_entries(builder.context, src_root, rel, st, ""), excludes, rel)
                hash_parts.append(("path", rel, place, copying.checksum(entries, (0, 0) if not chown else None, chmod)))
        return out

    try:
        src_label = _source_label(builder, state, node, source_from)
        sources: list[Source] = []
        hash_parts: list[Any] = []
        from_words: list[str] = []
        for word in words:
            doc = parse_heredoc(word)
            if doc is not None and doc.name in heredocs:
                body = heredocs[doc.name].body()
                if heredocs[doc.name].expand:
                    body = Lexer(builder.df.escape, skip_quotes=True).word(body, vars_)
                sources.append(Source("heredoc", data=body.encode(), name=doc.name))
                hash_parts.append(("heredoc", doc.name, body))
                continue
            src = _expand(builder, node, word, vars_)
            if is_add and src.startswith(("http://", "https://")):
                tmp = tempfile.mkdtemp(prefix="pyctr-add-")
                tmpdirs.append(tmp)
                fetched = _fetch_url(src, tmp, checksum)
                sources.append(fetched)
                hash_parts.append(("url", src, file_digest(os.path.join(fetched.root, fetched.rel)),
                                   fetched.st.st_mtime if fetched.st else 0))
                continue
            if is_add and (src.startswith("git@") or src.endswith(".git") or "://" in src):
                raise _fail(builder, node, f"ADD {src}: only local files and HTTP(S) URLs are supported")
            if source_from:
                # another stage or image: its key stands for its files, which are read only on a miss
                from_words.append(src)
                hash_parts.append(("from", src, parents, [str(p) for p in flags["exclude"]]))
            else:
                sources += select("", src, hash_parts)
        created_by = _copy_history(node, sources, hash_parts, dest_raw, several=len(words) > 1)
        key = step_key(state.key, node.keyword.upper(), src_label, dest, dest_is_dir, chown, chmod_text,
                       bool(flags.get("link")), hash_parts)
        if _use_cache(builder, state, key, created_by):
            return
        src_root = ""
        if source_from:
            src_root = _mount_source(builder, state, node, source_from, views)
            for src in from_words:
                sources += select(src_root, src, None)
        layer = _do_copy(builder, state, node, sources, dest, dest_is_dir, chown, chmod, len(words) > 1, src_root,
                         excludes)
    finally:
        for view in views:
            builder.engine.storage.remove(view)
        for tmp in tmpdirs:
            shutil.rmtree(tmp, ignore_errors=True)
    _add_layer(builder, state, key, layer, created_by)


def _copy_history(node: Node, sources: list[Source], hash_parts: list[Any], dest: str, several: bool = False) -> str:
    """``/bin/sh -c #(nop) COPY file:<sha256> in <dest> `` as the classic builder and buildah write it."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(hash_parts, sort_keys=True).encode("utf-8", "surrogateescape")).hexdigest()
    if len(hash_parts) > 1 or several:
        kind = "multi"
    elif len(sources) == 1 and sources[0].st is not None and stat.S_ISDIR(sources[0].st.st_mode):
        kind = "dir"
    else:
        kind = "file"
    return f"/bin/sh -c #(nop) {node.keyword.upper()} {kind}:{digest} in {dest} "


def _source_label(builder: Builder, state: StageState, node: Node, source_from: str) -> str:
    """What ``--from`` names, for the cache key: the context, a stage's key, or an image's id (the
    stage is built first if it was not; nothing is mounted)."""
    if not source_from:
        return "context"
    stage = builder._stage_by_ref(source_from, state.index)
    if stage is not None:
        return "stage:" + builder.build_stage(stage).key
    if source_from.isdigit():
        raise _fail(builder, node, f"invalid from flag value {source_from}: refers to current or future build stage")
    return "image:" + builder._base_image(source_from).id


def _mount_source(builder: Builder, state: StageState, node: Node, source_from: str, views: list[str]) -> str:
    """The host directory of the stage or image ``--from`` names, mounted as a writable view."""
    stage = builder._stage_by_ref(source_from, state.index)
    layers = builder.build_stage(stage).layers if stage is not None else builder._base_image(source_from).layers
    from pyctr.build.layers import writable

    view = writable(builder.engine, layers[-1] if layers else None)
    views.append(view)
    return str(builder.engine.storage.get(view))


def _select(builder: Builder, node: Node, src_root: str, src: str) -> list[tuple[str, os.stat_result]]:
    """The (relative path, lstat) a source names: from the context (through .dockerignore) or
    from another root, wildcards expanded; links on the way and the source itself followed
    inside the root (BuildKit's FollowSymlinks)."""
    from pyctr.build.context import Context, has_wildcards

    if src_root:
        ctx = Context(src_root)
    else:
        ctx = builder.context
    try:
        rels = ctx.select(src)
    except BuildError as e:
        if has_wildcards(src) and "no source files" in str(e):
            return []  # BuildKit allows a wildcard that matches nothing
        raise _fail(builder, node, str(e)) from None
    out = []
    for rel in rels:
        real = ctx.host_path(rel, follow_last=True)
        relative = os.path.relpath(real, ctx.root)
        if relative == ".":
            relative = ""
        if ctx.excluded(relative):
            raise _fail(builder, node, f'"{src}" not found in the build context (or excluded by .dockerignore)')
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            raise _fail(builder, node, f'"{src}": its link points to nothing in the build context') from None
        out.append((relative, st))
    return out


def _do_copy(builder: Builder, state: StageState, node: Node, sources: list[Source], dest: str,
             dest_is_dir: bool, chown: str, chmod: Any, several: bool, src_root: str, excludes: Any = None) \
        -> NewLayer:
    from pyctr.build import copying
    from pyctr.build.layers import commit, writable

    engine = builder.engine
    storage = engine.storage
    rw = writable(engine, state.layers[-1] if state.layers else None)
    try:
        root = str(storage.get(rw))
        owner = copying.parse_chown(chown, root) if chown else ((0, 0) if not src_root else None)
        copier = copying.Copier(root, owner, chmod, builder.opts.epoch,
                                parents_owner=owner if (chown and owner) else (0, 0))
        several = several or len(sources) > 1
        for src in sources:
            if src.kind == "heredoc":
                target = dest + "/" + src.name if (dest_is_dir or several) else dest
                base = copier.base(target)
                _write_file(base, src.data, owner or (0, 0), chmod, builder.opts.epoch, copier)
                continue
            if src.kind == "archive":
                base = copier.base(dest)
                if not os.path.isdir(base):
                    os.mkdir(base, 0o755)
                copying.extract_archive(os.path.join(builder.context.root, src.rel), base)
                continue
            if src.kind == "url":
                target = dest + "/" + src.name if dest_is_dir else dest
                base = copier.base(target)
                entry = copying.Entry(os.path.join(src.root, src.rel), "", src.st)  # type: ignore[arg-type]
                copier.copy(iter([entry]), base)
                continue
            assert src.st is not None
            entries = _filtered(source_entries(builder.context, src_root, src.rel, src.st, ""), excludes, src.rel)
            if src.place is not None:
                base = copier.base(dest.rstrip("/") + "/" + src.place if src.place else dest)
                copier.copy(entries, base)
            elif stat.S_ISDIR(src.st.st_mode):
                base = copier.base(dest)
                copier.copy(entries, base)
            else:
                existing_dir = os.path.isdir(copying.resolve_in(root, dest))
                name = os.path.basename(src.rel)
                target = dest.rstrip("/") + "/" + name if (dest_is_dir or several or existing_dir) else dest
                base = copier.base(target)
                copier.copy(entries, base)
        storage.put(rw)
        return commit(engine, rw, state.chain, builder.opts.epoch)
    except BaseException:
        storage.remove(rw)
        raise


def _write_file(path: str, data: bytes, owner: tuple[int, int], chmod: Any, epoch: int | None,
                copier: Any) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        raise BuildError(f"cannot write {path}: it is a directory")
    if os.path.lexists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fchown(fd, *owner)
        os.fchmod(fd, chmod(0o644, False) if chmod else 0o644)
    finally:
        os.close(fd)
    if epoch is not None:
        os.utime(path, (epoch, epoch))


def _fetch_url(url: str, tmp: str, checksum: str) -> Source:
    """ADD of a URL: downloaded (not extracted), 0600, mtime from Last-Modified, checked against
    ``--checksum``."""
    import email.utils
    import hashlib
    import urllib.parse
    import urllib.request

    name = os.path.basename(urllib.parse.urlparse(url).path) or "__unnamed__"
    path = os.path.join(tmp, name)
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as f:  # noqa: S310 (http(s) only)
            modified = resp.headers.get("Last-Modified")
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
    except OSError as e:
        raise BuildError(f"ADD {url}: {e}") from None
    if checksum:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or len(want) != 64:
            raise BuildError(f"invalid checksum {checksum!r}: want sha256:<64 hex digits>")
        if h.hexdigest() != want:
            raise BuildError(f"ADD {url}: checksum mismatch: got sha256:{h.hexdigest()}, want {checksum}")
    os.chmod(path, 0o600)
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(path, (when, when))
        except (TypeError, ValueError):
            pass
    return Source("url", root=tmp, rel=name, st=os.lstat(path), name=name, url=url)
