"""The evaluator: walks the syntax tree over the data, binding variables, ranging over
lists and maps, calling fields, methods and :data:`~pyctr.cli.gotemplate.functions.FUNCS`."""

from __future__ import annotations


from pyctr.cli.gotemplate.functions import FUNCS
from pyctr.cli.gotemplate.nodes import Action, Branch, Chain, Cmd, Dot, Field, Ident, Lit, Nil, Pipe, Var, source_of
from pyctr.cli.gotemplate.values import MISSING, ExecError, go_str, go_type, sorted_keys, truth

TYPE_CHECKING = False  # (typing's import costs ~3 ms; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any

_NOFINAL = object()  # no value piped in from an earlier command


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


class State:
    def __init__(self, root: Any) -> None:
        self.vars: list[list[Any]] = [["$", root]]
        self.out: list[str] = []

    def bind(self, name: str, value: Any, assign: bool) -> None:
        if assign:
            for slot in reversed(self.vars):
                if slot[0] == name:
                    slot[1] = value
                    return
        self.vars.append([name, value])

    def lookup(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise ExecError(f'undefined variable "{name}"')

    def walk(self, nodes: list, dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, Action):
                value = self.eval_pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(go_str(value))
            elif isinstance(node, Branch):
                self.walk_branch(node, dot)
            else:
                raise _BreakLoop() if node.kind == "break" else _ContinueLoop()

    def walk_branch(self, node: Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipe(node.pipe, dot, declare=node.kind != "range")
            if node.kind == "if":
                self.walk(node.body if truth(value) else node.orelse, dot)
            elif node.kind == "with":
                if truth(value):
                    self.walk(node.body, value)
                else:
                    self.walk(node.orelse, dot)
            else:
                self.walk_range(node, value, dot)
        finally:
            del self.vars[mark:]

    def walk_range(self, node: Branch, value: Any, dot: Any) -> None:
        if value is None or value is MISSING:
            pairs: list = []
        elif isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted_keys(value)]  # Go ranges maps in key order
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif isinstance(value, (str, bytes, float, bool)) or not hasattr(value, "__iter__"):
            raise ExecError(f"range can't iterate over {go_str(value)}")
        else:
            pairs = list(enumerate(value))
        if not pairs:
            self.walk(node.orelse, dot)
            return
        decl = node.pipe.decl
        for key, elem in pairs:
            mark = len(self.vars)
            if len(decl) == 1:
                self.bind(decl[0], elem, node.pipe.assign)
            elif len(decl) == 2:
                self.bind(decl[0], key, node.pipe.assign)
                self.bind(decl[1], elem, node.pipe.assign)
            try:
                self.walk(node.body, elem)
            except _ContinueLoop:
                pass
            except _BreakLoop:
                break
            finally:
                del self.vars[mark:]

    def eval_pipe(self, pipe: Pipe, dot: Any, declare: bool = True) -> Any:
        value: Any = _NOFINAL
        for cmd in pipe.cmds:
            try:
                value = self.eval_cmd(cmd, dot, value)
            except ExecError as e:
                if not e.located:
                    e.msg, e.located = f"at <{source_of(cmd)}>: {e.msg}", True
                raise
        if declare:
            for name in pipe.decl:
                self.bind(name, value, pipe.assign)
        return value

    def eval_cmd(self, cmd: Cmd, dot: Any, final: Any) -> Any:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, Ident):
            return self.call(first.name, rest, dot, final)
        if isinstance(first, Field):
            return self.eval_fields(dot, first.names, rest, dot, final, "")
        if isinstance(first, Var) and first.names:
            return self.eval_fields(self.lookup(first.name), first.names, rest, dot, final, first.name)
        if isinstance(first, Chain):
            base = self.eval_arg(first.node, dot)
            return self.eval_fields(base, first.names, rest, dot, final, source_of(first.node))
        if isinstance(first, Nil):
            raise ExecError("nil is not a command")
        if rest or final is not _NOFINAL:
            raise ExecError(f"can't give argument to non-function {source_of(first)}")
        return self.eval_arg(first, dot)

    def eval_arg(self, node: Any, dot: Any) -> Any:
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Nil):
            return None
        if isinstance(node, Field):
            return self.eval_fields(dot, node.names, [], dot, _NOFINAL, "")
        if isinstance(node, Var):
            return self.eval_fields(self.lookup(node.name), node.names, [], dot, _NOFINAL, node.name)
        if isinstance(node, Chain):
            return self.eval_fields(self.eval_arg(node.node, dot), node.names, [], dot, _NOFINAL, source_of(node.node))
        if isinstance(node, Pipe):
            return self.eval_pipe(node, dot)
        return self.call(node.name, [], dot, _NOFINAL)  # Ident: a function called with no arguments

    def eval_fields(self, recv: Any, names: list[str], args: list, dot: Any, final: Any, path: str) -> Any:
        for i, name in enumerate(names):
            last = i == len(names) - 1
            recv = self.eval_field(recv, name, args if last else [], dot, final if last else _NOFINAL,
                                   path + "." + ".".join(names[:i]) if i else path)
        return recv

    def eval_field(self, recv: Any, name: str, args: list, dot: Any, final: Any, path: str) -> Any:
        has_args = bool(args) or final is not _NOFINAL
        if recv is MISSING:
            return MISSING  # Go: a field of a missing map entry is <no value>, not an error
        if recv is None:
            raise ExecError(f"nil pointer evaluating {path or '.'}.{name}".replace("..", "."))
        if isinstance(recv, dict):
            if has_args:
                raise ExecError(f"{name} is not a method but has arguments")
            return recv.get(name, MISSING)
        attr = MISSING
        if not name.startswith("_") and not isinstance(recv, (list, tuple, str, bytes, int, float, bool)):
            attr = getattr(recv, name, MISSING)
        if attr is MISSING:
            raise ExecError(f"can't evaluate field {name} in type {go_type(recv)}")
        if callable(attr) and not isinstance(attr, type):
            argv = [self.eval_arg(a, dot) for a in args] + ([] if final is _NOFINAL else [final])
            try:
                return attr(*[None if a is MISSING else a for a in argv])
            except Exception as e:  # a user's method; report, never a traceback
                raise ExecError(f"error calling {name}: {e}") from None
        if has_args:
            raise ExecError(f"{name} has arguments but cannot be invoked as function")
        return attr

    def call(self, name: str, argnodes: list, dot: Any, final: Any) -> Any:
        fn, least, most = FUNCS[name]
        count = len(argnodes) + (final is not _NOFINAL)
        if count < least or (most is not None and count > most):
            want = least if least == most else f"at least {least}" if most is None else f"{least}..{most}"
            raise ExecError(f"wrong number of args for {name}: want {want} got {count}")
        if fn is None:  # and/or evaluate lazily and return the deciding operand
            value = None
            for node in argnodes + ([] if final is _NOFINAL else [Lit(final)]):
                value = self.eval_arg(node, dot)
                if truth(value) == (name == "or"):
                    return value
            return value
        argv = [self.eval_arg(a, dot) for a in argnodes] + ([] if final is _NOFINAL else [final])
        argv = [None if a is MISSING else a for a in argv]  # Go passes the zero value
        try:
            return fn(*argv)
        except (ExecError, _BreakLoop, _ContinueLoop):
            raise
        except Exception as e:  # a bug in a function must still be one line for the user
            raise ExecError(f"error calling {name}: {e}") from None
