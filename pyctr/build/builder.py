"""``pyctr build``: a Dockerfile's stages built in order, each step cached by content.

The stages are built on demand, as BuildKit does: the target (the last stage
unless ``--target``) and what it names (``FROM stage``, ``COPY --from``,
``RUN --mount=from=``), nothing else. Each instruction's cache key is made
before it runs (:mod:`pyctr.build.cache`); a hit takes the stored state, a
miss runs the step and stores the state after it.
"""

from __future__ import annotations

import copy
import os
import sys

from pyctr.images.store import image_store
from pyctr.build import instructions
from pyctr.build.cache import Cache, step_key
from pyctr.build.dockerfile import Stage, stages
from pyctr.build.errors import BuildError, DockerfileError
from pyctr.build.imageconfig import config_bytes, now, short_id
from pyctr.build.parser import Dockerfile, Node, parse
from pyctr.build.shell import ExpansionError, Lexer
from pyctr.build.state import PROXY_ARGS, StageState, empty_config, platform_args

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO, Any

    from pyctr.build.context import Context
    from pyctr.core.engine import Engine
    from pyctr.images.store import Image


class Options:
    """What ``pyctr build`` was asked for."""

    def __init__(self, *, tags: list[str] | None = None, build_args: dict[str, str | None] | None = None,
                 target: str = "", no_cache: bool = False, pull: bool = False, labels: dict[str, str] | None = None,
                 network: str | None = None, cache_from: list[str] | None = None, platform: str = "",
                 secrets: dict[str, str] | None = None, epoch: int | None = None) -> None:
        self.tags = tags or []
        self.build_args = build_args or {}
        self.target = target
        self.no_cache = no_cache
        self.pull = pull
        self.labels = labels or {}
        self.network = network
        self.cache_from = cache_from or []
        self.platform = platform
        self.secrets = secrets or {}
        self.epoch = epoch


class Output:
    """Where a build says what it does: step lines, and the RUN commands' output (an fd)."""

    def __init__(self, stream: IO[str] | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.run_fd = self.stream.fileno() if not quiet else os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)

    def line(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()

    def warn(self, text: str) -> None:
        sys.stderr.write(f"[WARNING]: {text}\n")
        sys.stderr.flush()


class Builder:
    def __init__(self, engine: Engine, context: Context, dockerfile: Dockerfile, options: Options,
                 output: Output) -> None:
        self.engine = engine
        self.context = context
        self.df = dockerfile
        self.opts = options
        self.out = output
        self.cache = Cache(engine)
        self.lexer = Lexer(dockerfile.escape)
        _check_syntax(dockerfile)
        self.meta, self.stages = stages(dockerfile)
        self.built: dict[int, StageState] = {}
        self.consumed: set[str] = set()
        self.global_args = self._global_args()
        self.total = 0
        self.step = 0
        self.cached_from: list[Image] = []

    # -- arguments ------------------------------------------------------------------
    def _global_args(self) -> dict[str, str]:
        """The values FROM lines see: the ARGs before the first FROM (build args override their
        defaults) and the predefined platform ARGs."""
        values = platform_args()
        declared: dict[str, str] = {}
        for node in self.meta:
            for word in node.args:
                key, eq, default = word.partition("=")
                key = self._expand(key, values, node)
                if key in self.opts.build_args and self.opts.build_args[key] is not None:
                    declared[key] = self.opts.build_args[key]  # type: ignore[assignment]
                    self.consumed.add(key)
                elif eq:
                    declared[key] = self._expand(default, {**values, **declared}, node)
                values.update(declared)
        self.meta_declared = declared
        return {**platform_args(), **declared}

    def _expand(self, text: str, vars_: dict[str, str], node: Node) -> str:
        try:
            return self.lexer.word(text, vars_)
        except ExpansionError as e:
            raise DockerfileError(str(e), node.line, self.df.filename) from None

    # -- the build -------------------------------------------------------------------
    def target_stage(self) -> Stage:
        if not self.opts.target:
            return self.stages[-1]
        for stage in self.stages:
            if stage.name == self.opts.target.lower():
                return stage
        raise BuildError(f"target stage {self.opts.target!r} could not be found")

    def run(self) -> Image:
        target = self.target_stage()
        needed = self._needed(target)
        self.total = sum(1 + len(self.stages[i].commands) for i in needed)
        for image in self.opts.cache_from:
            try:
                self.cached_from.append(image_store(self.engine).resolve(image))
            except Exception:  # noqa: BLE001  (docker build warns and goes on)
                self.out.warn(f"--cache-from {image}: no such image here, not used")
        for index in sorted(needed):  # the stages the target needs, in the file's order (as Docker's steps)
            self.build_stage(self.stages[index])
        state = self.build_stage(target)
        unused = sorted(k for k in self.opts.build_args if k not in self.consumed and k not in PROXY_ARGS
                        and k not in platform_args())
        if unused:
            self.out.warn(f"One or more build-args {unused} were not consumed")
        return self._register(state)

    def _needed(self, target: Stage) -> list[int]:
        """Indexes of the stages the target depends on (for the step count), target last."""
        order: list[int] = []
        todo = [target.index]
        while todo:
            index = todo.pop()
            if index in order:
                continue
            order.append(index)
            stage = self.stages[index]
            refs = [stage.base]
            for node in stage.commands:
                flags = node.flags
                refs += [f[7:] for f in flags if f.startswith("--from=")]
                for f in flags:
                    if f.startswith("--mount="):
                        refs += [p[5:] for p in f[8:].split(",") if p.startswith("from=")]
            for ref in refs:
                found = self._stage_by_ref(self._expand(ref, self.global_args, stage.node), index)
                if found is not None:
                    todo.append(found.index)
        return order

    def _stage_by_ref(self, ref: str, before: int) -> Stage | None:
        for stage in self.stages[:before]:
            if stage.name and stage.name == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < before:
            return self.stages[int(ref)]
        return None

    def build_stage(self, stage: Stage) -> StageState:
        if stage.index in self.built:
            return self.built[stage.index]
        state = self._from(stage)
        for node in stage.commands:
            self._step(state, node)
        self.built[stage.index] = state
        return state

    def _announce(self, node: Node) -> None:
        self.step += 1
        self.out.line(f"Step {self.step}/{self.total} : {_original(node)}")

    # -- FROM ---------------------------------------------------------------------------
    def _from(self, stage: Stage) -> StageState:
        self._announce(stage.node)
        base = self._expand(stage.base, self.global_args, stage.node)
        if stage.platform:
            platform = self._expand(stage.platform, self.global_args, stage.node)
            if platform not in ("linux/amd64", "linux/x86_64", "$BUILDPLATFORM", "$TARGETPLATFORM"):
                raise BuildError(f"platform {platform} is not supported: pyctr builds for linux/amd64 only")
        if not base:
            raise DockerfileError("base name (FROM) should not be blank", stage.node.line, self.df.filename)
        ref_stage = self._stage_by_ref(base, stage.index)
        if ref_stage is not None:
            parent = self.build_stage(ref_stage)
            state = StageState(stage.index, stage.name, copy.deepcopy(parent.config), list(parent.layers),
                               step_key(parent.key, "FROM-STAGE"), parent.base_id)
        elif base.lower() == "scratch":
            state = StageState(stage.index, stage.name, empty_config(now(self.opts.epoch)), [],
                               step_key("", "FROM", "scratch"))
            state.config["created"] = ""
            state.run_config["WorkingDir"] = "/"
        else:
            image = self._base_image(base)
            config = copy.deepcopy(image.config)
            state = StageState(stage.index, stage.name, config, list(image.layers),
                               step_key("", "FROM", image.id), image.id)
        if ref_stage is None:
            _default_path(state)
        self.out.line(f" ---> {short_id(state.config)}")
        onbuild = list(state.run_config.get("OnBuild") or [])
        if onbuild:
            state.run_config["OnBuild"] = None
            for text in onbuild:
                self.out.line(f"# Executing {len(onbuild)} build trigger{'s' if len(onbuild) > 1 else ''}")
                try:
                    nodes = parse(text + "\n", filename=f"ONBUILD of {base}").nodes
                except DockerfileError as e:
                    raise BuildError(f"bad ONBUILD trigger in {base}: {e}") from None
                for node in nodes:
                    self._step(state, node, announce=False)
        return state

    def _base_image(self, ref: str) -> Image:
        from pyctr.core.errors import NotFound

        images = image_store(self.engine)
        if not self.opts.pull:
            try:
                return images.resolve(ref)
            except NotFound:
                pass
        from pyctr.images import progress
        from pyctr.images.pull import pull

        try:
            result = pull(self.engine, ref, progress=progress.for_output(self.out.quiet, sys.stderr))
        except Exception as e:
            if isinstance(e, BuildError):
                raise
            raise BuildError(f"FROM {ref}: {e}") from None
        return images.resolve(result.reference)

    # -- the steps -------------------------------------------------------------------------
    def _step(self, state: StageState, node: Node, announce: bool = True) -> None:
        if announce:
            self._announce(node)
        kw = node.keyword
        if kw == "arg":
            self._arg(state, node)
            return
        if kw in instructions.METADATA:
            self._metadata(state, node)
        elif kw == "run":
            from pyctr.build.steps import run_instruction

            run_instruction(self, state, node)
        elif kw in ("copy", "add"):
            from pyctr.build.steps import copy_instruction

            copy_instruction(self, state, node)
        else:
            raise DockerfileError(f"unknown instruction: {kw.upper()}", node.line, self.df.filename)

    def _arg(self, state: StageState, node: Node) -> None:
        vars_ = state.expansion_vars()
        for word in node.args:
            key, eq, default = word.partition("=")
            key = self._expand(key, vars_, node)
            if key in self.opts.build_args and self.opts.build_args[key] is not None:
                value: str | None = self.opts.build_args[key]
                self.consumed.add(key)
            elif eq:
                value = self._expand(default, vars_, node)
            elif key in self.meta_declared:
                value = self.meta_declared[key]
            elif key in platform_args():
                value = platform_args()[key]
            else:
                value = None
            if key in self.opts.build_args:
                self.consumed.add(key)
            state.args[key] = value
            vars_ = state.expansion_vars()
        # an ARG changes what later steps see: its values are part of the key (not of the image)
        self._record(state, node, copy.deepcopy(state.config),
                     ("ARG", sorted((k, v) for k, v in state.args.items())))

    def _metadata(self, state: StageState, node: Node) -> None:
        new = copy.deepcopy(state.config)
        cfg = new.setdefault("config", {})
        try:
            instructions.apply(node, cfg, state.expansion_vars(), self.df.escape, image=new, cmd_set=state.cmd_set)
        except ExpansionError as e:
            raise DockerfileError(str(e), node.line, self.df.filename) from None
        except BuildError as e:
            if isinstance(e, DockerfileError):
                raise
            raise DockerfileError(str(e), node.line, self.df.filename) from None
        if node.keyword == "cmd":
            state.cmd_set = True
        self._record(state, node, new, ("META", node.keyword, cfg, new.get("author")))

    def _record(self, state: StageState, node: Node, new: dict[str, Any], inputs: tuple[Any, ...]) -> None:
        """A step that makes no layer: its config (and history entry), through the cache."""
        key = step_key(state.key, *inputs)
        cached = None if self.opts.no_cache else self.cache.get(key)
        if cached is not None:
            state.restore(cached)
            state.key = key
            self.out.line(" ---> Using cache")
            self.out.line(f" ---> {short_id(state.config)}")
            return
        created_by = "/bin/sh -c #(nop) " + (_original(node) if node.keyword != "arg"
                                              else "ARG " + " ".join(w.partition("=")[0] for w in node.args))
        from_image = self._from_cache_images(state, created_by, empty=True)
        if from_image is not None:
            state.restore(from_image)
        else:
            created = now(self.opts.epoch)
            new["created"] = created
            entry: dict[str, Any] = {"created": created, "created_by": created_by, "empty_layer": True}
            if new.get("author"):
                entry["author"] = new["author"]
            new.setdefault("history", []).append(entry)
            state.config = new
        state.key = key
        self.cache.put(key, state.snapshot())
        self.out.line(f" ---> {short_id(state.config)}")

    def _from_cache_images(self, state: StageState, created_by: str, empty: bool) -> dict[str, Any] | None:
        """``--cache-from``: an image whose history continues this state's with the same step
        (and whose layers start with this state's) gives the step's result."""
        if not self.cached_from:
            return None
        history = state.config.get("history") or []
        n_layers = len(state.layers)
        for image in self.cached_from:
            theirs = image.config.get("history") or []
            if len(theirs) <= len(history) or image.layers[:n_layers] != state.layers:
                continue
            if [h.get("created_by") for h in theirs[:len(history)]] != [h.get("created_by") for h in history]:
                continue
            entry = theirs[len(history)]
            if entry.get("created_by") != created_by or bool(entry.get("empty_layer")) != empty:
                continue
            layers = image.layers[:n_layers + (0 if empty else 1)]
            diff_ids = (image.config.get("rootfs") or {}).get("diff_ids") or []
            config = copy.deepcopy(state.config)
            config["history"] = copy.deepcopy(theirs[:len(history) + 1])
            config["rootfs"] = {"type": "layers", "diff_ids": diff_ids[:len(layers)]}
            config["created"] = entry.get("created") or config.get("created")
            return {"config": config, "layers": layers}
        return None

    # -- the image --------------------------------------------------------------------------
    def _register(self, state: StageState) -> Image:
        from pyctr.images import reference

        config = copy.deepcopy(state.config)
        if self.opts.labels:
            cfg = config.setdefault("config", {})
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **self.opts.labels}
        if not config.get("created"):
            config["created"] = now(self.opts.epoch)
        tags = [str(reference.parse(t)) for t in self.opts.tags]
        image = image_store(self.engine).register(config_bytes(config), state.layers, tags)
        return image


#: ``# syntax=`` values that name the Dockerfile frontend itself (its versions and channels)
_FRONTENDS = ("docker/dockerfile", "docker.io/docker/dockerfile", "docker/dockerfile-upstream",
              "docker.io/docker/dockerfile-upstream")


def _check_syntax(df: Dockerfile) -> None:
    """A ``# syntax=`` other than the Dockerfile frontend asks for another language: refused."""
    syntax = df.directives.get("syntax")
    if not syntax:
        return
    name = syntax.split("@", 1)[0].rsplit(":", 1)[0] if ":" in syntax.split("/")[-1] else syntax.split("@", 1)[0]
    if name not in _FRONTENDS:
        raise DockerfileError(f"# syntax={syntax}: pyctr builds Dockerfiles itself and cannot run other "
                              "frontends (remove the directive, or use docker/dockerfile)", 1, df.filename)


def _default_path(state: StageState) -> None:
    """PATH is always set (BuildKit and buildah add it to a base that has none)."""
    cfg = state.run_config
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        cfg["Env"] = env + [f"PATH={instructions.DEFAULT_PATH}"]


def _original(node: Node) -> str:
    """The instruction as written (continuations joined), as step lines and history show it."""
    return node.original.strip()


def open_dockerfile(path: str | None, context_dir: str, text: bytes | None = None) -> Dockerfile:
    """The Dockerfile: ``text`` (``-f -``), ``path``, or Dockerfile/Containerfile in the context."""
    if text is not None:
        return parse(text, filename="Dockerfile")
    if path is None:
        for name in ("Dockerfile", "Containerfile"):
            candidate = os.path.join(context_dir, name)
            if os.path.exists(candidate):
                path = candidate
                break
        else:
            raise BuildError(f"no Dockerfile or Containerfile in {context_dir}; give one with -f")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BuildError(f"cannot read {path}: {e.strerror}") from None
    return parse(data, filename=os.path.relpath(path) if not os.path.isabs(path) else path)
