"""The service's errors: Docker's status codes and message shape."""

from __future__ import annotations

from pyctr.core.errors import Conflict, DriverNotFound, NotFound, UsageError


class ApiError(Exception):
    """An answer other than success, with Docker's status code and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NotModified(Exception):
    """304, no body: start of a running container, stop of a stopped one."""


def status_of(error: BaseException) -> int:
    """Docker's status for one of pyctr's errors."""
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, NotFound | DriverNotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, UsageError):
        return 400
    return 500


def message_of(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if text.startswith("no such "):
        return "N" + text[1:]  # Docker's words, which clients match ("No such container: x")
    return text
