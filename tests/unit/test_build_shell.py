"""Variable expansion as BuildKit's lexer does it (pyctr.build.shell): cases written for pyctr,
each checked against the behaviour documented in BuildKit's reference and its shell lexer."""

import pytest

from pyctr.build.shell import ExpansionError, Lexer, env_map

ENV = {"HOME": "/root", "EMPTY": "", "NAME": "world", "PATHS": "/a/b/c.tar.gz", "SP": "a b"}


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("$NAME", "world"),
    ("${NAME}", "world"),
    ("hello-$NAME!", "hello-world!"),
    ("$UNSET", ""),
    ("${UNSET}x", "x"),
    ("$", "$"),
    ("$.", "$."),
    ("a$1b", "ab"),  # positional parameters are names too (unset)
    ("\\$NAME", "$NAME"),
    ("\\\\$NAME", "\\world"),
    ("'$NAME'", "$NAME"),
    ('"$NAME"', "world"),
    ('"\\$NAME"', "$NAME"),
    ('"a\\tb"', "a\\tb"),  # in double quotes the escape only escapes " $ and itself
    ("a\\tb", "atb"),
    ("'a\\tb'", "a\\tb"),
    ('"it\'s"', "it's"),
    ("he'll'o", "hello"),
    ("trailing\\", "trailing"),
    ("${UNSET:-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${UNSET-default}", "default"),
    ("${NAME:-default}", "world"),
    ("${UNSET:-$HOME}", "/root"),
    ("${UNSET:-${ALSO:-deep}}", "deep"),
    ("${NAME:+set}", "set"),
    ("${EMPTY:+set}", ""),
    ("${EMPTY+set}", "set"),
    ("${UNSET+set}", ""),
    ("${NAME?}", "world"),
    ("${EMPTY?}", ""),
    ("${PATHS#*/}", "a/b/c.tar.gz"),
    ("${PATHS##*/}", "c.tar.gz"),
    ("${PATHS%.*}", "/a/b/c.tar"),
    ("${PATHS%%.*}", "/a/b/c"),
    ("${PATHS/b/X}", "/a/X/c.tar.gz"),
    ("${PATHS//\\//_}", "_a_b_c.tar.gz"),
    ("${PATHS/?/X}", "Xa/b/c.tar.gz"),
    ("${SP}", "a b"),
    ("${NAME:-a b}", "world"),
])
def test_word(text, expected):
    assert Lexer().word(text, ENV) == expected


@pytest.mark.parametrize("text", [
    "'unterminated", '"unterminated', "${}", "${:}", "${NAME", "${NAME:x}", "${.}", "${UNSET?}",
    "${UNSET:?}", "${EMPTY:?}", "${UNSET?must be set}", "${PATHS/a", "${NAME^^}",
])
def test_word_errors(text):
    with pytest.raises(ExpansionError):
        Lexer().word(text, ENV)


def test_error_message_carries_custom_text():
    with pytest.raises(ExpansionError, match="UNSET: give it"):
        Lexer().word("${UNSET:?give it}", ENV)


@pytest.mark.parametrize(("text", "expected"), [
    ("80 443/tcp", ["80", "443/tcp"]),
    ("  a   b  ", ["a", "b"]),
    ('"a b" c', ["a b", "c"]),
    ("$SP c", ["a", "b", "c"]),  # an unquoted expansion splits
    ('"$SP" c', ["a b", "c"]),
    ("a\\ b", ["a b"]),
    ("''", [""]),
    ("", []),
])
def test_words(text, expected):
    assert Lexer().words(text, ENV) == expected


def test_backtick_escape():
    lx = Lexer("`")
    assert lx.word("a`$NAME", ENV) == "a$NAME"
    assert lx.word("c:\\path", ENV) == "c:\\path"


def test_skip_unset_and_raw_quotes_keep_the_text():
    lx = Lexer(skip_unset=True, raw_quotes=True)
    assert lx.word("$UNSET ${ALSO} '$x' $NAME", ENV) == "$UNSET ${ALSO} '$x' world"


def test_matched_names():
    _, names = Lexer().word_and_names("$NAME ${UNSET:-x} ${HOME}", ENV)
    assert names == {"NAME", "HOME"}


def test_env_map_later_wins():
    assert env_map(["A=1", "B", "A=2=3"]) == {"A": "2=3", "B": ""}
