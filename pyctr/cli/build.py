"""``pyctr build`` and ``pyctr builder prune``."""

from __future__ import annotations

import os
import sys

import click

from pyctr.cli.common import engine


def _build_args(values: tuple[str, ...]) -> dict[str, str | None]:
    """``--build-arg K=V``; ``K`` alone takes the caller's environment (unset: left unset)."""
    out: dict[str, str | None] = {}
    for item in values:
        key, eq, value = item.partition("=")
        out[key] = value if eq else os.environ.get(key)
    return out


def _secrets(values: tuple[str, ...]) -> dict[str, str]:
    from pyctr.core.errors import UsageError

    out = {}
    for item in values:
        fields = dict(p.partition("=")[::2] for p in item.split(","))
        ident = fields.get("id")
        src = fields.get("src") or fields.get("source") or (os.environ.get(fields["env"], None) and "")
        if not ident:
            raise UsageError(f"invalid --secret {item!r}: want id=NAME,src=FILE")
        if fields.get("env"):
            value = os.environ.get(fields["env"])
            if value is None:
                raise UsageError(f"--secret {item}: ${fields['env']} is not set")
            import tempfile

            fd, src = tempfile.mkstemp(prefix="pyctr-secret-")
            os.write(fd, value.encode())
            os.close(fd)
        if not src or not os.path.isfile(src):
            raise UsageError(f"--secret {item}: {src or 'no src'} is not a file")
        out[ident] = src
    return out


def _epoch(build_args: dict[str, str | None]) -> int | None:
    from pyctr.core.errors import UsageError

    value = build_args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    if value in (None, ""):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except ValueError:
        raise UsageError(f"invalid SOURCE_DATE_EPOCH {value!r}: want seconds since 1970") from None


@click.command()
@click.option("--tag", "-t", "tags", multiple=True, help="Name (and tag) the image: name[:tag], repeatable.")
@click.option("--file", "-f", "dockerfile", help="The Dockerfile (default: PATH/Dockerfile; - for stdin).")
@click.option("--build-arg", "build_args", multiple=True, help="Set a build argument: KEY=VALUE (or KEY: from the environment).")
@click.option("--target", default="", help="Build this stage (and what it needs) only.")
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option("--pull", is_flag=True, help="Always pull the base images, even when present.")
@click.option("--label", "labels", multiple=True, help="Set a label on the image: KEY=VALUE.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the image id.")
@click.option("--iidfile", help="Write the image id to this file.")
@click.option("--platform", default="", help="Target platform (only linux/amd64).")
@click.option("--network", default=None, help="Network of the RUN steps: default, none or host.")
@click.option("--secret", "secrets", multiple=True, help="A secret for RUN --mount=type=secret: id=NAME,src=FILE (or env=VAR).")
@click.option("--progress", type=click.Choice(["auto", "plain", "tty", "quiet"]), default="auto",
              help="Output style (all print the steps as lines).")
@click.option("--cache-from", "cache_from", multiple=True, help="An image whose layers may serve as cache.")
@click.argument("path")
def build(tags, dockerfile, build_args, target, no_cache, pull, labels, quiet, iidfile, platform, network,  # noqa: ANN001, ANN201
          secrets, progress, cache_from, path) -> int:
    """Build an image from a Dockerfile and a context (a directory, or - for a tar or a Dockerfile on stdin)."""
    from pyctr.build.builder import Builder, Options, Output, open_dockerfile
    from pyctr.build.context import Context
    from pyctr.core.errors import UsageError

    if platform and platform not in ("linux/amd64", "linux/x86_64"):
        raise UsageError(f"--platform {platform} is not supported: pyctr builds for linux/amd64 only")
    if network and network not in ("default", "none", "host", "bridge"):
        raise UsageError(f"--network {network}: builds use default (bridge), none or host")
    for label in labels:
        if "=" not in label:
            raise UsageError(f"invalid --label {label!r}: want KEY=VALUE")
    from pyctr.images import reference

    for tag in tags:
        reference.parse(tag)  # a bad name fails before anything is built
    args = _build_args(build_args)
    eng = engine()
    tmp = None
    dockerfile_text = None
    try:
        if path == "-":
            import tempfile

            data = sys.stdin.buffer.read()
            tmp = tempfile.mkdtemp(prefix="pyctr-context-", dir=_tmpdir(eng))
            if _is_tar(data):
                _unpack_context(data, tmp)
            else:
                if dockerfile == "-":
                    raise UsageError("the Dockerfile and the context cannot both come from stdin")
                dockerfile_text = data
            context_dir = tmp
        else:
            if not os.path.isdir(path):
                raise UsageError(f"unable to prepare context: path {path!r} not found")
            context_dir = path
        if dockerfile == "-":
            dockerfile_text = sys.stdin.buffer.read()
            df_path = None
        elif dockerfile:
            df_path = dockerfile if os.path.isabs(dockerfile) or os.path.exists(dockerfile) \
                else os.path.join(context_dir, dockerfile)
        else:
            df_path = None
        df = open_dockerfile(df_path, context_dir, dockerfile_text)
        context = Context.open(context_dir, df_path)
        options = Options(tags=list(tags), build_args=args, target=target, no_cache=no_cache, pull=pull,
                          labels=dict(label.split("=", 1) for label in labels), network=network,
                          cache_from=list(cache_from), secrets=_secrets(secrets), epoch=_epoch(args))
        out = Output(sys.stdout, quiet=quiet or progress == "quiet")
        for warning in df.warnings:
            out.warn(warning)
        image = Builder(eng, context, df, options, out).run()
    finally:
        if tmp:
            from pyctr.core.trees import remove_tree

            remove_tree(tmp)
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(image.id)
    if quiet or progress == "quiet":
        click.echo(image.id)
    else:
        click.echo(f"Successfully built {image.short_id}")
        for tag in image.tags:
            if tag in [str(reference.parse(t)) for t in tags]:
                click.echo(f"Successfully tagged {reference.parse(tag).familiar}")
    return 0


def _tmpdir(eng) -> str:  # noqa: ANN001
    path = eng.config.root / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)


def _is_tar(data: bytes) -> bool:
    if data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00":
        return True
    return len(data) >= 512 and data[257:262] == b"ustar"


def _unpack_context(data: bytes, dest: str) -> None:
    import io

    from pyctr.core.errors import UsageError
    from pyctr.layers.extract import extract_layer

    try:
        extract_layer(io.BytesIO(data), dest, whiteouts="delete")
    except Exception as e:  # noqa: BLE001
        raise UsageError(f"cannot read the build context from stdin: {e}") from None


@click.group(name="builder")
def builder_group() -> None:
    """Manage the build cache."""


@builder_group.command(name="prune")
@click.option("--all", "-a", "all_", is_flag=True, help="Remove all cache entries (the default here).")
@click.option("--force", "-f", is_flag=True, help="Do not ask (pyctr never asks).")
def builder_prune(all_: bool, force: bool) -> None:
    """Remove the build cache and the layers only it used."""
    from pyctr.build.cache import Cache

    entries, lines = Cache(engine()).prune()
    for line in lines:
        click.echo(line)
    click.echo(f"Total: {entries} cache entries, {len(lines)} layers removed")
