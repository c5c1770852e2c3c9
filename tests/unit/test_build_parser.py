"""The Dockerfile parser (pyctr.build.parser): BuildKit's syntax, with file and line in errors."""

import pytest

from pyctr.build.errors import DockerfileError
from pyctr.build.parser import parse, parse_heredoc


def one(text):
    nodes = parse(text).nodes
    return nodes[-1]


def test_keywords_case_insensitive_and_exec_or_shell_form():
    df = parse('from busybox\nRun ["echo", "hi"]\ncmd echo  "a b"\nENTRYPOINT ["broken"\n')
    assert [n.keyword for n in df.nodes] == ["from", "run", "cmd", "entrypoint"]
    assert df.nodes[1].json and df.nodes[1].args == ["echo", "hi"]
    assert not df.nodes[2].json and df.nodes[2].args == ['echo  "a b"']
    assert not df.nodes[3].json and df.nodes[3].args == ['["broken"']  # invalid JSON: shell form


def test_json_array_of_non_strings_is_an_error_with_the_line():
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: .*strings only"):
        parse("FROM a\nCMD [1, 2]\n")


def test_continuation_keeps_indentation_and_drops_comments_and_blank_lines():
    df = parse("FROM a\nRUN a && \\\n    b \\\n# a comment\n\n  && c\nRUN d\n")
    run = df.nodes[1]
    assert run.args == ["a &&     b   && c"]
    assert (run.line, run.end_line) == (2, 6)
    assert df.warnings and "Empty continuation" in df.warnings[0]
    assert df.nodes[2].line == 7


def test_trailing_escape_at_end_of_file_ends_the_instruction():
    assert one("FROM a\nRUN echo \\").args == ["echo"]


def test_escaped_escape_is_not_a_continuation_only_the_last_one():
    df = parse("FROM a\nRUN echo a\\\\\nRUN b\n")
    # "a\\" ends in an escape preceded by an escape: BuildKit's regex still sees the last one
    # as a continuation only when the character before it is not the escape
    assert [n.keyword for n in df.nodes] == ["from", "run", "run"]


def test_escape_directive_backtick():
    df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n")
    assert df.escape == "`"
    assert df.nodes[1].args == ["dir c:\\   && echo"]


def test_directives_only_at_the_top():
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    df = parse("# a comment\n# escape=`\nFROM a\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.nodes[1].args == ["a  b"]
    df = parse("\n# escape=`\nFROM a\n")  # a blank line ends the directives too
    assert df.escape == "\\"
    with pytest.raises(DockerfileError, match="only one escape"):
        parse("# escape=`\n# escape=\\\nFROM a\n")
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_bom_and_crlf():
    df = parse("\ufeffFROM a\r\nRUN b \\\r\n c\r\n")
    assert [n.args for n in df.nodes] == [["a"], ["b  c"]]


def test_flags_before_arguments():
    n = one('FROM a\nCOPY --from=build --chown="1:2" --link src /dst\n')
    assert n.flags == ["--from=build", "--chown=1:2", "--link"]
    assert n.args == ["src", "/dst"]
    n = one("FROM a\nCOPY -- --notaflag /dst\n")
    assert n.flags == [] and n.args == ["--notaflag", "/dst"]


def test_env_and_label_forms():
    n = one('FROM a\nENV A=1 B="two words" C=a\\ b\n')
    assert n.pairs == [("A", "1"), ("B", '"two words"'), ("C", "a\\ b")]  # quotes go at expansion
    n = one("FROM a\nENV KEY value with  spaces\n")
    assert n.pairs == [("KEY", "value with  spaces")]
    with pytest.raises(DockerfileError, match="must have two arguments"):
        parse("FROM a\nENV KEY\n")
    with pytest.raises(DockerfileError, match="can't find ="):
        parse("FROM a\nLABEL a=b c\n")


def test_arg_words():
    df = parse('ARG A B=2 C="x y"\nFROM a\n')
    assert df.nodes[0].args == ["A", "B=2", 'C="x y"']


def test_healthcheck_and_onbuild():
    n = one('FROM a\nHEALTHCHECK --interval=5s CMD ["true"]\n')
    assert n.flags == ["--interval=5s"] and n.args == ["CMD", "true"] and n.json
    n = one("FROM a\nHEALTHCHECK NONE\n")
    assert n.args == ["NONE"]
    n = one("FROM a\nONBUILD RUN echo hi\n")
    assert n.sub.keyword == "run" and n.sub.args == ["echo hi"]


def test_heredocs():
    text = "FROM a\nRUN <<EOF\necho $HOME\n\tTAB\nEOF\nCOPY <<-\"A\" <<B /dst/\n\tone $x\n\tA\ntwo\nB\nRUN after\n"
    df = parse(text)
    run, copy, after = df.nodes[1], df.nodes[2], df.nodes[3]
    assert run.args == ["<<EOF"]
    assert [(h.name, h.expand, h.chomp, h.content) for h in run.heredocs] == [("EOF", True, False, "echo $HOME\n\tTAB\n")]
    assert [(h.name, h.expand, h.chomp) for h in copy.heredocs] == [("A", False, True), ("B", True, False)]
    assert copy.heredocs[0].body() == "one $x\n" and copy.heredocs[1].content == "two\n"
    assert after.args == ["after"] and after.line == 11


def test_heredoc_in_exec_form_is_not_one():
    n = one('FROM a\nRUN ["cat", "<<EOF"]\n')
    assert n.heredocs == []


def test_unterminated_heredoc():
    with pytest.raises(DockerfileError, match="Dockerfile:2: unterminated heredoc"):
        parse("FROM a\nRUN <<EOF\nno end\n")


@pytest.mark.parametrize(("word", "name", "expand", "chomp", "fd"), [
    ("<<EOF", "EOF", True, False, 0),
    ("<<-EOF", "EOF", True, True, 0),
    ("<<'EOF'", "EOF", False, False, 0),
    ('<<"E"OF', "EOF", False, False, 0),
    ("3<<EOF", "EOF", True, False, 3),
])
def test_parse_heredoc(word, name, expand, chomp, fd):
    doc = parse_heredoc(word)
    assert (doc.name, doc.expand, doc.chomp, doc.fd) == (name, expand, chomp, fd)


@pytest.mark.parametrize("word", ["<<", "<", "file", "<<a b"])
def test_not_heredocs(word):
    assert parse_heredoc(word) is None


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_no_instructions(text):
    with pytest.raises(DockerfileError, match="file with no instructions"):
        parse(text)


def test_error_names_the_file():
    with pytest.raises(DockerfileError, match=r"^build/Containerfile:1: .*strings only"):
        parse('CMD [1]\n', filename="build/Containerfile")
