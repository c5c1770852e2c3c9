"""The syntax tree's nodes, and their source-like text for error messages."""

from __future__ import annotations


from pyctr.cli.gotemplate.values import go_quote, go_str

TYPE_CHECKING = False  # (typing's import costs ~3 ms; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any


class Node:
    """Plain slotted records (dataclasses would cost milliseconds at import)."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *args: Any) -> None:
        for name, value in zip(self.__slots__, args):
            setattr(self, name, value)


class Field(Node):
    __slots__ = ("names",)


class Var(Node):
    __slots__ = ("name", "names")


class Dot(Node):
    __slots__ = ()


class Nil(Node):
    __slots__ = ()


class Lit(Node):
    __slots__ = ("value",)


class Ident(Node):
    __slots__ = ("name",)


class Chain(Node):
    __slots__ = ("node", "names")


class Cmd(Node):
    __slots__ = ("args",)


class Pipe(Node):
    __slots__ = ("decl", "assign", "cmds")


class Action(Node):
    __slots__ = ("pipe",)


class Branch(Node):
    """``{{if}}``, ``{{with}}`` or ``{{range}}`` (``kind``); ``else if`` nests in ``orelse``."""

    __slots__ = ("kind", "pipe", "body", "orelse")


class Jump(Node):
    """``{{break}}`` or ``{{continue}}``."""

    __slots__ = ("kind",)


def source_of(node: Any) -> str:
    """Source-like text of a node, for error messages (``at <.A.B>``)."""
    if isinstance(node, Field):
        return "." + ".".join(node.names)
    if isinstance(node, Var):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, Dot):
        return "."
    if isinstance(node, Nil):
        return "nil"
    if isinstance(node, Lit):
        return go_str(node.value) if not isinstance(node.value, str) else go_quote(node.value)
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Chain):
        return source_of(node.node) + "".join("." + n for n in node.names)
    if isinstance(node, Cmd):
        return " ".join(source_of(a) for a in node.args)
    if isinstance(node, Pipe):
        return "(" + " | ".join(source_of(c) for c in node.cmds) + ")"
    return "?"
