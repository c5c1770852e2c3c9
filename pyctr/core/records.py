"""Plain data records: dataclass syntax without the dataclasses machinery.

``@dataclass`` writes each class's ``__init__``, ``__repr__`` and ``__eq__`` as
source text and compiles it when the module is imported, and the module
itself imports ``inspect``; for the records every ``pyctr run`` loads (the
container spec, its mounts, the container, an image, a reference) that was
about 8 ms of the start. A :class:`Record` reads the same class body once,
with no code generation::

    class Mount(Record):
        type: str
        target: str
        readonly: bool = False
        options: list[str] = factory(list)

Fields are the annotated names in order (``ClassVar`` ones excluded), with the
class attribute as default, :func:`factory` for a fresh mutable default, none
for a required field. Instances take the fields positionally or by name, compare
equal field by field, print like dataclasses, and offer :meth:`Record.replace`
(``dataclasses.replace``) and :meth:`Record.to_dict` (``dataclasses.asdict``).
``frozen=True`` makes instances read-only and hashable.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing's import is ~3 ms of every command; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any, ClassVar

_REQUIRED = object()


class factory:  # noqa: N801  (reads like dataclasses.field(default_factory=...))
    """A default made fresh for each instance: ``factory(list)``."""

    __slots__ = ("make",)

    def __init__(self, make: Any) -> None:
        self.make = make


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen record (dataclasses' FrozenInstanceError)."""


class Record:
    """Base class; see the module documentation."""

    #: field name -> default (``_REQUIRED``, a value or a :class:`factory`), in order
    _fields: ClassVar[dict[str, Any]] = {}
    _frozen: ClassVar[bool] = False

    def __init_subclass__(cls, frozen: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._fields)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if name.startswith("_") or "ClassVar" in str(annotation):
                continue
            default = cls.__dict__.get(name, _REQUIRED)
            if isinstance(default, factory):
                delattr(cls, name)  # the instance attribute is always set
            fields[name] = default
        cls._fields = fields
        cls._frozen = frozen or cls._frozen
        if cls._frozen:
            cls.__hash__ = Record._hash  # type: ignore[method-assign]
            cls.__setattr__ = Record._refuse_set  # type: ignore[method-assign]
            cls.__delattr__ = Record._refuse_delete  # type: ignore[method-assign]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        name = type(self).__name__
        if len(args) > len(fields):
            raise TypeError(f"{name}() takes {len(fields)} arguments but {len(args)} were given")
        values = dict(zip(fields, args))
        for key, value in kwargs.items():
            if key not in fields:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        put = object.__setattr__
        for key, default in fields.items():
            if key in values:
                put(self, key, values[key])
            elif default is _REQUIRED:
                raise TypeError(f"{name}() missing required argument: {key!r}")
            elif isinstance(default, factory):
                put(self, key, default.make())
            else:
                put(self, key, default)

    def _refuse_set(self, key: str, value: Any) -> None:
        raise FrozenRecordError(f"cannot assign to field {key!r}")

    def _refuse_delete(self, key: str) -> None:
        raise FrozenRecordError(f"cannot delete field {key!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, key) for key in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  (mutable records are unhashable, as dataclasses)

    def _hash(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._fields)
        return f"{type(self).__qualname__}({inner})"

    def replace(self, **changes: Any) -> Any:
        """A new record with ``changes`` applied (``dataclasses.replace``)."""
        values = {key: getattr(self, key) for key in self._fields}
        values.update(changes)
        return type(self)(**values)

    def to_dict(self) -> dict[str, Any]:
        """Fields as plain data, nested records and containers included (``dataclasses.asdict``)."""
        return {key: _plain(getattr(self, key)) for key in self._fields}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls._fields)


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
