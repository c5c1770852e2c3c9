"""pyctr.core.records: the dataclass behaviour the start path's records rely on."""

from __future__ import annotations

from typing import ClassVar

import pytest

from pyctr.core.records import FrozenRecordError, Record, factory


class Point(Record):
    x: int
    y: int = 0
    tags: list[str] = factory(list)
    kind: ClassVar[str] = "point"  # not a field


class Named(Point):
    name: str = ""


class Key(Record, frozen=True):
    registry: str
    repository: str
    tag: str | None = None


def test_fields_in_order_with_defaults_and_factories() -> None:
    assert Point.field_names() == ("x", "y", "tags")
    p = Point(1)
    assert (p.x, p.y, p.tags) == (1, 0, [])
    assert Point(1, 2, ["a"]).tags == ["a"]
    assert Point(x=3, tags=["b"]).y == 0


def test_a_factory_default_is_fresh_for_every_instance() -> None:
    a, b = Point(1), Point(2)
    a.tags.append("only-a")
    assert b.tags == []
    assert "tags" not in Point.__dict__  # no shared class-level list to leak into


@pytest.mark.parametrize("args, kwargs, message", [
    ((), {}, "missing required argument: 'x'"),
    ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
    ((1,), {"x": 2}, "multiple values for argument 'x'"),
    ((1, 2, [], 4), {}, "takes 3 arguments but 4 were given"),
])
def test_bad_arguments_are_type_errors(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_equality_repr_and_hash_as_dataclasses() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert Point(1) != Named(1)  # another class is never equal
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"
    with pytest.raises(TypeError):
        hash(Point(1))  # mutable: unhashable, as a dataclass with eq
    assert hash(Key("r", "p")) == hash(Key("r", "p"))
    assert {Key("r", "p"): 1}[Key("r", "p")] == 1


def test_subclasses_extend_the_fields() -> None:
    n = Named(1, name="n")
    assert Named.field_names() == ("x", "y", "tags", "name")
    assert (n.x, n.name) == (1, "n")


def test_frozen_records_refuse_changes() -> None:
    k = Key("r", "p", "t")
    with pytest.raises(FrozenRecordError):
        k.tag = "u"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del k.tag  # type: ignore[misc]
    assert k.replace(tag="u") == Key("r", "p", "u") and k.tag == "t"


def test_replace_and_to_dict() -> None:
    p = Point(1, tags=["a"])
    q = p.replace(y=5)
    assert (q.x, q.y, q.tags) == (1, 5, ["a"]) and p.y == 0
    outer = Named(1, tags=["t"], name="n")
    assert outer.to_dict() == {"x": 1, "y": 0, "tags": ["t"], "name": "n"}


def test_the_container_spec_round_trips_through_json() -> None:
    from pyctr.core.spec import ContainerSpec, Mount

    spec = ContainerSpec(image="busybox", argv=["sh"], uid_map=[(0, 1000, 1)],
                         mounts=[Mount(type="bind", source="/a", target="/b", options=["ro"])])
    again = ContainerSpec.from_json(spec.to_json())
    assert again == spec
    assert isinstance(again.mounts[0], Mount) and again.uid_map == [(0, 1000, 1)]


def test_records_do_not_import_dataclasses() -> None:
    import subprocess
    import sys

    code = ("import sys; import pyctr.core.spec, pyctr.core.container, pyctr.images.reference, "
            "pyctr.images.store, pyctr.core.config, pyctr.core.drivers; print('dataclasses' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_go_templates_print_records_as_structs() -> None:
    from pyctr.cli.gotemplate import go_json, go_str

    assert go_str(Point(1, 2, ["a"])) == "{1 2 [a]}"
    assert go_json(Point(1, 2, ["a"])) == '{"x":1,"y":2,"tags":["a"]}'
