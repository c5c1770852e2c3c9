"""The parser: a small syntax tree from the lexer's items. Syntax errors, unknown functions
and undefined variables are reported before anything runs, as Go does."""

from __future__ import annotations


from pyctr.cli.gotemplate.lexer import ParseError, Tok
from pyctr.cli.gotemplate.nodes import Action, Branch, Chain, Cmd, Dot, Field, Ident, Jump, Lit, Nil, Pipe, Var

TYPE_CHECKING = False  # (typing's import costs ~3 ms; annotations are strings here)
if TYPE_CHECKING:
    from collections.abc import Container
    from typing import Any

KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}


class _Cursor:
    def __init__(self, toks: list[Tok], line: int) -> None:
        self.toks, self.pos, self.line = toks, 0, line

    def peek(self, k: int = 0) -> Tok | None:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else None

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ParseError(self.line, "unexpected end of action")
        self.pos += 1
        return t

    def expect_end(self, what: str = "action") -> None:
        t = self.peek()
        if t is not None:
            raise ParseError(self.line, f"unexpected {t.text!r} in {what}")


class Parser:
    def __init__(self, items: list[tuple], functions: Container[str]) -> None:
        """``items`` from :func:`~pyctr.cli.gotemplate.lexer.lex`; ``functions``: the names a template may call."""
        self.items = items
        self.functions = functions
        self.i = 0
        self.vars = ["$"]  # names in scope, for Go's "undefined variable" check
        self.loops = 0

    def parse(self) -> list:
        nodes, term = self.parse_list()
        if term is not None:
            raise ParseError(term[1].line, f"unexpected {{{{{term[0]}}}}}")
        return nodes

    def parse_list(self) -> tuple[list, tuple[str, _Cursor] | None]:
        """Nodes up to ``{{end}}``/``{{else}}`` (returned with the cursor after it) or EOF."""
        nodes: list = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if item[0] == "text":
                nodes.append(item[1])
                continue
            cur = _Cursor(item[1], item[2])
            t = cur.peek()
            if t is None:
                raise ParseError(cur.line, "missing value for command")
            if t.kind == "ident" and t.val in KEYWORDS:
                cur.next()
                kw = t.val
                if kw in ("end", "else"):
                    return nodes, (kw, cur)
                if kw in ("if", "with", "range"):
                    nodes.append(self.parse_branch(kw, cur))
                elif kw in ("break", "continue"):
                    if not self.loops:
                        raise ParseError(cur.line, f"{{{{{kw}}}}} outside {{{{range}}}}")
                    cur.expect_end()
                    nodes.append(Jump(kw))
                else:
                    raise ParseError(cur.line, f"{{{{{kw}}}}} is not supported")
                continue
            pipe = self.parse_pipe(cur, "command")
            cur.expect_end()
            nodes.append(Action(pipe))
        return nodes, None

    def parse_branch(self, kw: str, cur: _Cursor) -> Branch:
        mark = len(self.vars)
        self.loops += kw == "range"
        pipe = self.parse_pipe(cur, kw)
        cur.expect_end()
        body, term = self.parse_list()
        self.loops -= kw == "range"
        if term is None:
            raise ParseError(cur.line, f"unexpected EOF in {{{{{kw}}}}}")
        del self.vars[mark + len(pipe.decl) * (not pipe.assign) :]
        orelse: list = []
        if term[0] == "else":
            tcur = term[1]
            nxt = tcur.peek()
            if kw in ("if", "with") and nxt is not None and nxt.kind == "ident" and nxt.val == kw:
                tcur.next()  # {{else if ...}} / {{else with ...}} share the final {{end}}
                orelse = [self.parse_branch(kw, tcur)]
            else:
                tcur.expect_end("{{else}}")
                orelse, term = self.parse_list()
                if term is None:
                    raise ParseError(tcur.line, f"unexpected EOF in {{{{{kw}}}}}")
                if term[0] != "end":
                    raise ParseError(term[1].line, "expected {{end}}; found {{else}}")
                term[1].expect_end("{{end}}")
        else:
            term[1].expect_end("{{end}}")
        del self.vars[mark:]
        return Branch(kw, pipe, body, orelse)

    def parse_pipe(self, cur: _Cursor, ctx: str) -> Pipe:
        decl: list[str] = []
        assign = False
        t, t2 = cur.peek(), cur.peek(1)
        if t is not None and t.kind == "var" and not t.val[1] and t2 is not None:
            if t2.kind in ("declare", "assign"):
                decl, assign = [t.val[0]], t2.kind == "assign"
                cur.pos += 2
            elif t2.kind == "comma" and ctx == "range":
                t3, t4 = cur.peek(2), cur.peek(3)
                if not (t3 and t3.kind == "var" and not t3.val[1] and t4 and t4.kind in ("declare", "assign")):
                    raise ParseError(cur.line, "too many declarations in range")
                decl, assign = [t.val[0], t3.val[0]], t4.kind == "assign"
                cur.pos += 4
        if assign:
            for name in decl:
                if name not in self.vars:
                    raise ParseError(cur.line, f'undefined variable "{name}"')
        cmds = [self.parse_cmd(cur)]
        while (t := cur.peek()) is not None and t.kind == "pipe":
            cur.next()
            cmds.append(self.parse_cmd(cur))
        if not assign:
            self.vars.extend(decl)
        return Pipe(decl, assign, cmds)

    def parse_cmd(self, cur: _Cursor) -> Cmd:
        args = []
        while (t := cur.peek()) is not None and t.kind not in ("pipe", "rparen"):
            args.append(self.parse_operand(cur))
        if not args:
            raise ParseError(cur.line, "missing value for command")
        return Cmd(args)

    def parse_operand(self, cur: _Cursor) -> Any:
        t = cur.next()
        k = t.kind
        if k == "field":
            node: Any = Field(t.val)
        elif k == "var":
            if t.val[0] not in self.vars:
                raise ParseError(cur.line, f'undefined variable "{t.val[0]}"')
            node = Var(*t.val)
        elif k == "dot":
            node = Dot()
        elif k == "nil":
            node = Nil()
        elif k in ("string", "number", "bool"):
            node = Lit(t.val)
        elif k == "ident":
            if t.val in KEYWORDS:
                raise ParseError(cur.line, f"unexpected <{t.val}> in operand")
            if t.val not in self.functions:
                raise ParseError(cur.line, f'function "{t.val}" not defined')
            node = Ident(t.val)
        elif k == "lparen":
            node = self.parse_pipe(cur, "paren")
            if cur.peek() is None or cur.next().kind != "rparen":
                raise ParseError(cur.line, "unclosed left paren")
        else:
            raise ParseError(cur.line, f"unexpected {t.text!r} in operand")
        nxt = cur.peek()
        if nxt is not None and nxt.kind == "field" and not nxt.space:
            if not isinstance(node, Pipe):
                raise ParseError(cur.line, f"unexpected . after term {t.text!r}")
            cur.next()
            node = Chain(node, nxt.val)
        return node
