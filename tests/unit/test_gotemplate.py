"""Go text/template renderer: expected outputs are what Go/Docker print for the same data."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pyctr.cli.gotemplate import Template, go_json, go_str, render, split_table
from pyctr.core.errors import UsageError

INSPECT = {
    "Id": "4f66ad9a0b2e",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0, "Health": None},
    "Config": {
        "Labels": {"com.example": "yes", "a.b": "c"},
        "Env": ["PATH=/usr/bin", "A=1"],
        "Cmd": ["sh", "-c", "echo hi"],
    },
    "RootFS": {"Type": "layers", "Layers": ["sha256:aaa", "sha256:bbb", "sha256:ccc"]},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    "Mounts": [],
    "Args": ["-c", "echo hi"],
}


@dataclass
class Row:
    ID: str
    Names: str
    Size: int

    def Label(self, name: str) -> str:
        return f"label:{name}"


CASES = [
    # fields
    ("{{.Id}}", INSPECT, "4f66ad9a0b2e"),
    ("{{ .Name }}", INSPECT, "/web"),
    ("{{.State.Pid}}", INSPECT, "4242"),
    ("{{.State.Running}}", INSPECT, "true"),
    ("{{.State.ExitCode}}", INSPECT, "0"),
    ("{{.State.Health}}", INSPECT, "<nil>"),
    ("{{.Nope}}", INSPECT, "<no value>"),
    ("{{.Nope.Deeper}}", INSPECT, "<no value>"),
    ("{{.Config.Labels.nope}}", INSPECT, "<no value>"),
    ("{{.NetworkSettings.Networks.bridge.IPAddress}}", INSPECT, "172.17.0.2"),
    ("{{.}}", "plain", "plain"),
    ("{{.}}", None, "<no value>"),
    ("{{.X}}", None, "<no value>"),
    ("{{.Config.Cmd}}", INSPECT, "[sh -c echo hi]"),
    ("{{.Mounts}}", INSPECT, "[]"),
    ("{{.Config.Labels}}", INSPECT, "map[a.b:c com.example:yes]"),
    ("{{.}}", {"b": [1, {"c": None}], "a": True}, "map[a:true b:[1 map[c:<nil>]]]"),
    # Go's %v of floats
    ("{{.}}", 0.5, "0.5"),
    ("{{.}}", 1e6, "1e+06"),
    ("{{.}}", 123456.0, "123456"),
    ("{{.}}", 1234567.0, "1.234567e+06"),
    ("{{.}}", 0.0001, "0.0001"),
    ("{{.}}", 0.00001, "1e-05"),
    ("{{.}}", -2.5, "-2.5"),
    ("{{.}}", 100.0, "100"),
    # objects with attributes and methods
    ("{{.ID}} {{.Names}} {{.Size}}", Row("abc", "web", 10), "abc web 10"),
    ('{{.Label "x"}}', Row("abc", "web", 10), "label:x"),
    ("{{.}}", Row("abc", "web", 10), "{abc web 10}"),
    # the seed article's layer chain and Docker's \n / \t handling
    ("{{ range .RootFS.Layers }}{{.}}\\n{{ end }}", INSPECT, "sha256:aaa\nsha256:bbb\nsha256:ccc\n"),
    ("{{.Id}}\\t{{.Name}}", INSPECT, "4f66ad9a0b2e\t/web"),
    ('{{join .Config.Cmd "\\n"}}', INSPECT, "sh\n-c\necho hi"),
    # range, variables, else
    ("{{range .Config.Env}}[{{.}}]{{end}}", INSPECT, "[PATH=/usr/bin][A=1]"),
    ("{{range $i, $e := .RootFS.Layers}}{{$i}}:{{$e}} {{end}}", INSPECT, "0:sha256:aaa 1:sha256:bbb 2:sha256:ccc "),
    ("{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}", {"Labels": {"z": "1", "a": "2", "m": "3"}}, "a=2 m=3 z=1 "),
    ("{{range .Labels}}{{.}}{{end}}", {"Labels": {"z": "1", "a": "2"}}, "21"),
    ("{{range .Mounts}}x{{else}}no mounts{{end}}", INSPECT, "no mounts"),
    ("{{range .Nope}}x{{else}}none{{end}}", INSPECT, "none"),
    ("{{range $e := .Config.Cmd}}{{$e}};{{end}}", INSPECT, "sh;-c;echo hi;"),
    ("{{range $i, $e := .L}}{{if $i}},{{end}}{{$e}}{{end}}", {"L": ["a", "b", "c"]}, "a,b,c"),
    ("{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}", {"L": [1, 2, 3, 4, 5]}, "13"),
    ("{{range 3}}{{.}}{{end}}", None, "012"),
    ("{{$x := .Name}}{{$x}}{{$x = \"b\"}}{{$x}}", INSPECT, "/webb"),
    ("{{range .Config.Cmd}}{{$.Name}}{{end}}", INSPECT, "/web/web/web"),
    ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", INSPECT, "running/4242"),
    ("{{with .Nope}}x{{else}}empty{{end}}", INSPECT, "empty"),
    ("{{with $s := .State}}{{$s.Pid}}{{end}}", INSPECT, "4242"),
    # if / else if / truthiness
    ("{{if .State.Running}}up{{else}}down{{end}}", INSPECT, "up"),
    ("{{if .State.ExitCode}}failed{{else}}ok{{end}}", INSPECT, "ok"),
    ("{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {"A": "", "B": [1]}, "b"),
    ("{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {"A": 0, "B": {}}, "c"),
    ("{{if .Mounts}}m{{else}}none{{end}}", INSPECT, "none"),
    ("{{if and .State.Running (eq .State.Pid 4242)}}yes{{end}}", INSPECT, "yes"),
    ("{{if or .Nope .State.Pid}}yes{{end}}", INSPECT, "yes"),
    ("{{and 1 0}} {{and 1 2}} {{or 0 \"\"}} {{or 0 \"x\"}} {{not .Nope}}", None, "0 2  x true"),
    ("{{eq .State.Status \"running\" \"paused\"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt 3 2.5}} {{ge \"a\" \"b\"}}", INSPECT,
     "true true true true true false"),
    # functions
    ("{{json .State}}", INSPECT, '{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"Health":null}'),
    ("{{json .RootFS}}", INSPECT, '{"Type":"layers","Layers":["sha256:aaa","sha256:bbb","sha256:ccc"]}'),
    ("{{.Config.Labels | json}}", INSPECT, '{"com.example":"yes","a.b":"c"}'),
    ("{{json .Nope}}", INSPECT, "null"),
    ('{{index .Config.Labels "com.example"}}', INSPECT, "yes"),
    ('[{{index .Config.Labels "missing"}}]', INSPECT, "[]"),
    ('{{index .NetworkSettings.Networks "host"}}', INSPECT, "<nil>"),
    ("{{index .RootFS.Layers 1}}", INSPECT, "sha256:bbb"),
    ('{{index .A 0 "k" 1}}', {"A": [{"k": ["x", "y"]}]}, "y"),
    ('{{index (index .A 0) "k"}}', {"A": [{"k": "v"}]}, "v"),
    ('{{(index .A 0).k}}', {"A": [{"k": "v"}]}, "v"),
    ("{{len .RootFS.Layers}} {{len .Config.Labels}} {{len \"héllo\"}}", INSPECT, "3 2 6"),
    ('{{join .Args " "}}', INSPECT, "-c echo hi"),
    ('{{split "a:b:c" ":"}}', None, "[a b c]"),
    ('{{index (split .Id "a") 0}}', INSPECT, "4f66"),
    ("{{.Name | upper}} {{lower \"ABC\"}} {{title \"hello wide world\"}}", INSPECT, "/WEB abc Hello Wide World"),
    ('{{pad "x" 2 1}}|{{truncate "abcdef" 3}}', None, "  x |abc"),
    ("{{slice .RootFS.Layers 1 2}} {{slice \"abcdef\" 2}}", INSPECT, "[sha256:bbb] cdef"),
    ('{{print 1 2 "a" 3 "b"}}', None, "1 2a3b"),
    ("{{println .State.Pid \"x\"}}", INSPECT, "4242 x\n"),
    ('{{html "<a&b>"}} {{urlquery "a b&c"}}', None, "&lt;a&amp;b&gt; a+b%26c"),
    # printf and Go's verbs
    ('{{printf "%s is %d" .Name .State.Pid}}', INSPECT, "/web is 4242"),
    ('{{printf "%5s|%-10s|" "ab" "cd"}}', None, "   ab|cd        |"),
    ('{{printf "%v %v %v" .Config.Cmd .State.Running .Nope}}', INSPECT, "[sh -c echo hi] true <nil>"),
    ('{{printf "%q %t %x %X %o %b %c" "h\\"i" true 255 255 8 5 65}}', None, '"h\\"i" true ff FF 10 101 A'),
    ('{{printf "%05d|%+d|%.2f|%6.1f|%e|%g|%x" -42 5 3.14159 2.25 1234.5 0.000001 "hi"}}', None,
     "-0042|+5|3.14|   2.2|1.234500e+03|1e-06|6869"),
    ('{{printf "%d %s"}}|{{printf "%d" 1 2}}|{{printf "%d" "x"}}|{{printf "%s" 1}}', None,
     "%!d(MISSING) %!s(MISSING)|1%!(EXTRA int=2)|%!d(string=x)|%!s(int=1)"),
    ('{{.Name | printf "%s!"}}', INSPECT, "/web!"),
    ('{{printf "%.2f%%" .CPU}}', {"CPU": 12.3456}, "12.35%"),
    ('{{printf "%T %T %T %T" 1 "s" .L .Nope}}', {"L": []}, "int string []interface {} <nil>"),
    ('{{printf "%-8s|%8.3s|%#x|%U|%c" "abcdefghij" "abcdef" 255 233 233}}', None, "abcdefghij|     abc|0xff|U+00E9|é"),
    ("{{printf \"%v|%d\" .M .L}}", {"M": {"b": 1, "a": 2}, "L": [1, 2]}, "map[a:2 b:1]|[1 2]"),
    ("{{with .A}}a{{else with .B}}b={{.}}{{else}}c{{end}}", {"B": "bee"}, "b=bee"),
    ("{{$a := 1}}{{if true}}{{$a = 2}}{{end}}{{$a}}", None, "2"),
    ("{{if $x := .A}}{{$x}}{{end}}", {"A": "v"}, "v"),
    ('{{title "snake_case it\'s x-y"}}', None, "Snake_case It'S X-Y"),
    ("{{ .A | printf \"%s\" | upper }}", {"A": "x"}, "X"),
    # literals
    ('{{"a\\tb\\u00e9\\x41"}} {{`raw\\n`}} {{\'a\'}} {{0x1F}} {{1e3}} {{-2}} {{1.5}} {{true}}', None,
     "a\tbéA raw\\n 97 31 1000 -2 1.5 true"),
    # whitespace trimming and comments
    ("a  {{- .X -}}  b", {"X": 1}, "a1b"),
    ("a  {{- .X}}  b", {"X": 1}, "a1  b"),
    ("{{range .L -}}\n  {{.}}\n{{- end}}", {"L": [1, 2]}, "12"),
    ("a{{/* comment */}}b{{- /* trimmed */ -}}  c", None, "abc"),
    ("{{ .X\n}}", {"X": "multi-line action"}, "multi-line action"),
]


@pytest.mark.parametrize("template,data,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_render(template, data, expected):
    assert render(template, data) == expected


ERRORS = [
    ("{{foo .}}", "parsing error", 'function "foo" not defined'),
    ("{{.A", "parsing error", "unclosed action"),
    ("{{if .A}}x", "parsing error", "unexpected EOF"),
    ("{{end}}", "parsing error", "unexpected {{end}}"),
    ("{{else}}", "parsing error", "unexpected {{else}}"),
    ("{{$y}}", "parsing error", 'undefined variable "$y"'),
    ("{{break}}", "parsing error", "outside {{range}}"),
    ('{{"abc}}', "parsing error", "unterminated quoted string"),
    ("{{}}", "parsing error", "missing value for command"),
    ("{{(upper .A}}", "parsing error", "unclosed left paren"),
    ("{{template \"x\"}}", "parsing error", "not supported"),
    ("{{/* open", "parsing error", "unclosed comment"),
    ("{{range .A}}{{else}}{{else}}{{end}}", "parsing error", "expected {{end}}"),
    ("{{upper 1 2}}", "executing error", "wrong number of args for upper: want 1 got 2"),
    ("{{upper 1}}", "executing error", "expected string; got int"),
    ("{{.State.Health.Status}}", "executing error", "nil pointer evaluating .State.Health.Status"),
    ("{{index .RootFS.Layers 9}}", "executing error", "index out of range: 9"),
    ("{{len 3}}", "executing error", "len of type int"),
    ("{{.Name.Foo}}", "executing error", "can't evaluate field Foo in type string"),
    ('{{"x" 1}}', "executing error", "can't give argument to non-function"),
    ("{{eq .Config.Cmd 1}}", "executing error", "non-comparable type"),
    ('{{lt 1 "a"}}', "executing error", "incompatible types for comparison"),
    ("{{range .Name}}{{end}}", "executing error", "range can't iterate over /web"),
    ("{{nil}}", "executing error", "nil is not a command"),
]


@pytest.mark.parametrize("template,kind,fragment", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(template, kind, fragment):
    with pytest.raises(UsageError) as info:
        render(template, INSPECT)
    msg = str(info.value)
    assert msg.startswith(f"template: {kind}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_error_reports_line_and_command():
    with pytest.raises(UsageError, match=r"line 3: function \"nope\" not defined"):
        render("a\nb\n{{nope}}", None)
    with pytest.raises(UsageError, match=r"at <\.A \| upper>|at <upper>"):
        render("{{.A | upper}}", {"A": 5})


def test_split_table():
    assert split_table("table {{.ID}}\\t{{.Names}}") == (True, "{{.ID}}\\t{{.Names}}")
    assert split_table("table") == (True, "")
    assert split_table("{{.ID}}") == (False, "{{.ID}}")


def test_template_reused_per_row():
    tpl = Template("{{.ID}}\t{{.Names}}")
    rows = [{"ID": str(i), "Names": f"c{i}"} for i in range(3)]
    assert [tpl.render(r) for r in rows] == ["0\tc0", "1\tc1", "2\tc2"]


def test_docker_escapes_can_be_disabled():
    assert render("a\\nb", None, docker_escapes=False) == "a\\nb"


def test_json_of_nested_data_and_strings():
    data = {"b": {"x": [1, 2.5, None, True]}, "a": "é<>&\n\"", "f": 1e21, "g": 1e-7, "h": 100.0}
    assert render("{{json .}}", data) == (
        '{"b":{"x":[1,2.5,null,true]},"a":"é<>&\\n\\"","f":1e+21,"g":1e-7,"h":100}')
    assert go_json(Row("i", "n", 1)) == '{"ID":"i","Names":"n","Size":1}'


def test_go_str_values():
    assert go_str([True, None, 1.0, "s", {"k": []}]) == "[true <nil> 1 s map[k:[]]]"
