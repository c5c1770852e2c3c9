"""Go ``text/template``, the subset Docker and Podman users pass to ``--format``.

``docker inspect --format '{{.State.Pid}}'``, ``docker ps --format
'table {{.ID}}\\t{{.Names}}'`` and friends take a Go template, and users paste
the ones they already have.  This module renders those templates over plain
Python data (dicts with Docker's CamelCase keys, lists, scalars, or objects
with attributes) and prints values the way Go's ``fmt`` does, so the output
matches Docker byte for byte where the data match.

The pieces, in the order a template goes through them:

* :mod:`.lexer` splits the source into text and action tokens (trim markers
  ``{{-`` / ``-}}``, comments, Docker's ``\\n``/``\\t`` in the text);
* :mod:`.parser` builds a small syntax tree (:mod:`.nodes`) and reports syntax
  errors, unknown functions and undefined variables before anything runs, as Go does;
* :mod:`.evaluator` walks the tree over the data; :mod:`.functions` holds Go's
  builtins (``printf`` included) plus Docker's (``json``, ``join``, ``split``,
  ``upper``, ``lower``, ``title``, ``pad``, ``truncate``); :mod:`.values` prints
  values as Go's ``fmt`` and Docker's ``json`` do.

Not supported: ``define``/``template``/``block``, ``call``, ``%[n]``
argument indexes in ``printf``.  Where Go would fail only because of Go's
static types (``eq 1 1.0``, ``printf "%.1f"`` of an int) this renders the
obvious result, since Python data do not carry Go's types.

Every error is a :class:`~pyctr.core.errors.UsageError` whose message starts
``template: parsing error:`` or ``template: executing error:``.
"""

from __future__ import annotations

import functools

from pyctr.cli.gotemplate.evaluator import State
from pyctr.cli.gotemplate.functions import FUNCS
from pyctr.cli.gotemplate.lexer import ParseError, lex
from pyctr.cli.gotemplate.parser import Parser
from pyctr.cli.gotemplate.values import MISSING, ExecError, go_json, go_str
from pyctr.core.errors import UsageError

TYPE_CHECKING = False  # (typing's import costs ~3 ms; annotations are strings here)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Template", "go_json", "go_str", "render", "split_table"]


class Template:
    """A parsed template; parse once, :meth:`render` per row (``docker ps``)."""

    def __init__(self, source: str, docker_escapes: bool = True) -> None:
        """Parse ``source``.

        :param docker_escapes: turn the two characters ``\\n`` and ``\\t`` in the
            text into newline and tab first, as the Docker and Podman CLIs do.
        :raises UsageError: ``template: parsing error: ...``
        """
        self.source = source
        try:
            self._nodes = Parser(lex(source, docker_escapes), FUNCS).parse()
        except ParseError as e:
            raise UsageError(f"template: parsing error: {e}") from None
        except RecursionError:
            raise UsageError("template: parsing error: template nested too deeply") from None

    def render(self, data: Any) -> str:
        """Execute over ``data`` (``.`` and ``$``) and return the text.

        :raises UsageError: ``template: executing error: at <.X>: ...``
        """
        # Go executes nil data as an invalid value: fields of it are <no value>
        root = MISSING if data is None else data
        state = State(root)
        try:
            state.walk(self._nodes, root)
        except ExecError as e:
            raise UsageError(f"template: executing error: {e.msg}") from None
        except RecursionError:
            raise UsageError("template: executing error: data nested too deeply") from None
        return "".join(state.out)


@functools.lru_cache(maxsize=64)
def _cached(source: str, docker_escapes: bool) -> Template:
    return Template(source, docker_escapes)


def render(template: str, data: Any, *, docker_escapes: bool = True) -> str:
    """Render a Go template over ``data``, e.g. ``render("{{.State.Pid}}", info)``.

    No trailing newline is added; the CLI prints one per object like Docker.
    """
    return _cached(template, docker_escapes).render(data)


def split_table(template: str) -> tuple[bool, str]:
    """Docker's ``table`` prefix: ``("table {{.ID}}\\t{{.Names}}")`` -> ``(True, "{{.ID}}\\t{{.Names}}")``.

    Like Docker, any format starting with ``table`` is a table and the rest is
    stripped of surrounding spaces; an empty rest means "the default columns".
    A format without the prefix is returned unchanged.
    """
    if template.startswith("table"):
        return True, template[len("table"):].strip(" ")
    return False, template
