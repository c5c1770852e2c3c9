"""Errors of a build: one line, exit code 1 as ``docker build``'s (the engine's own
failures, bad flags and missing images keep 125)."""

from __future__ import annotations

from pyctr.core.errors import PyctrError


class BuildError(PyctrError):
    """The Dockerfile, the context or a step failed."""

    exit_code = 1


class DockerfileError(BuildError):
    """A Dockerfile that cannot be parsed: says the file and the line."""

    def __init__(self, message: str, line: int = 0, filename: str = "Dockerfile") -> None:
        self.message = message
        self.line = line
        self.filename = filename
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {message}")


class StepFailed(BuildError):
    """A RUN step's command exited non-zero (its code is the build's message, not its exit)."""
