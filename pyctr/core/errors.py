"""The error vocabulary: every error pyctr reports to a user is one of these.

Each carries a one-line message and the exit code Docker would use (125 for
the engine's own failures), so the CLI prints ``pyctr: <message>`` and exits
without a traceback.
"""

from __future__ import annotations


class PyctrError(Exception):
    """An error the user can act on; ``str()`` is the one line shown."""

    exit_code = 125


class UsageError(PyctrError):
    """A flag, value or argument that cannot be accepted."""


class NotFound(PyctrError):
    """No such image, container, volume, network or layer."""


class Conflict(PyctrError):
    """A name in use, an object still in use, or a state that forbids the action."""


class StateError(PyctrError):
    """The state database or the storage root is not usable."""


class RuntimeFailure(PyctrError):
    """Setting up the container process failed before the user's command ran."""


class ImageError(PyctrError):
    """An image, layer or registry answer that cannot be trusted or used."""


class PluginLoadError(PyctrError):
    """A third-party hook plugin failed to import; the message names its entry point and distribution."""


class DriverError(PyctrError):
    """Base of the errors drivers raise."""


class DriverNotFound(DriverError):
    """No driver of that name is installed."""


class DriverConflict(DriverError):
    """Two distributions claim the same driver name."""


class DriverNotSupported(DriverError):
    """The driver cannot work on this host (kernel feature, platform)."""


class PrerequisitesMissing(DriverError):
    """Something the driver needs is missing but could be installed or enabled."""


class IncompatibleFilesystem(DriverError):
    """The filesystem under the storage root cannot back this driver."""


#: What auto-selection skips to try the next driver in the priority list.
SKIPPABLE = (DriverNotSupported, PrerequisitesMissing, IncompatibleFilesystem)
