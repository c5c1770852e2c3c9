"""Registry commands: ``pull``, ``push``, ``login``, ``logout``."""

from __future__ import annotations

import sys

import click

from pyctr.cli.common import engine


def _tls_option(f):  # noqa: ANN001, ANN201
    f = click.option("--cert-dir", metavar="DIR",
                     help="Use DIR's *.crt (CAs), *.cert and *.key (client certificate) instead of certs.d's.")(f)
    return click.option("--tls-verify", type=click.BOOL, default=True, show_default=True,
                        help="Require HTTPS and verify certificates (false: plain HTTP or unverified TLS).")(f)


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Suppress verbose output; print only the reference.")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="Platform to pull from an index (default: this host's).", envvar="DOCKER_DEFAULT_PLATFORM")
@click.option("--all-tags", "-a", is_flag=True, hidden=True)
@_tls_option
@click.argument("name")
def pull(quiet: bool, platform: str | None, all_tags: bool, tls_verify: bool, cert_dir: str | None,
         name: str) -> None:
    """Download an image from a registry."""
    from pyctr.core.errors import UsageError
    from pyctr.images import progress
    from pyctr.images.platforms import normalize
    from pyctr.images.pull import pull as do_pull

    if all_tags:
        raise UsageError("--all-tags is not supported")
    platform = normalize(platform)
    if not quiet:
        if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
            click.echo("Using default tag: latest")
    shown = progress.for_output(quiet)
    result = do_pull(engine(), name, platform=platform, tls_verify=tls_verify, progress=shown, cert_dir=cert_dir)
    if not quiet:
        click.echo(f"Digest: {result.digest}")
        word = "Downloaded newer image" if result.fresh else "Image is up to date"
        click.echo(f"Status: {word} for {result.familiar}")
    click.echo(result.reference)


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Suppress verbose output.")
@_tls_option
@click.argument("name")
def push(quiet: bool, tls_verify: bool, cert_dir: str | None, name: str) -> None:
    """Upload an image to a registry."""
    from pyctr.images import progress
    from pyctr.images.push import push as do_push

    shown = progress.for_output(quiet)
    digest, size = do_push(engine(), name, tls_verify=tls_verify, progress=shown, cert_dir=cert_dir)
    if not quiet:
        from pyctr.images.reference import parse

        click.echo(f"{parse(name).tag or 'latest'}: digest: {digest} size: {size}")


@click.command()
@click.option("--username", "-u", help="Username.")
@click.option("--password", "-p", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@_tls_option
@click.argument("server")
def login(username: str | None, password: str | None, password_stdin: bool, tls_verify: bool,
          cert_dir: str | None, server: str) -> None:
    """Log in to a registry; credentials are checked, then saved: through the credential helper
    Docker's config names for the registry, else in pyctr's own file (mode 0600)."""
    from pyctr.core.errors import UsageError
    from pyctr.images import credentials, registries

    registry = _registry_name(server)
    if password and password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise UsageError("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("cannot prompt for a username: stdin is not a terminal; use --username")
        username = click.prompt("Username")
    if not password:
        if not sys.stdin.isatty():
            raise UsageError("cannot prompt for a password: stdin is not a terminal; use --password-stdin")
        password = click.prompt("Password", hide_input=True)
    if password and not password_stdin and sys.stdin.isatty():
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
    eng = engine()
    client = registries.client(eng, registry, tls_verify=tls_verify, credentials=(username, password),
                               cert_dir=cert_dir)
    try:
        client.ping()
    finally:
        client.close()
    credentials.save(registries.auth_file(eng), registry, username, password)
    click.echo("Login Succeeded")


@click.command()
@click.argument("server")
def logout(server: str) -> None:
    """Forget the credentials saved for a registry."""
    from pyctr.images import credentials, registries

    registry = _registry_name(server)
    if credentials.remove(registries.auth_file(engine()), registry):
        click.echo(f"Removing login credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")


def _registry_name(server: str) -> str:
    for prefix in ("https://", "http://"):
        if server.startswith(prefix):
            server = server[len(prefix):]
    server = server.split("/", 1)[0]
    return "docker.io" if server in ("index.docker.io", "registry-1.docker.io") else server
