"""A small interpreter for the part of Asterisk's dialplan language that
extensions_portal.conf uses, so its decisions can be tested without an
Asterisk: contexts, ``exten =>`` / ``same =>`` with ``n`` priorities and
labels, pattern extensions (``_X.``), variable and function substitution
(``${VAR}``, ``${VAR:offset}``, ``${DB(…)}``, ``${DB_EXISTS(…)}``, ``${IF(…)}``,
``${CUT(…)}``, ``${CALLERID(num)}``, ``${QUEUE_MEMBER_LIST(…)}``),
expressions ``$[…]`` (``|``, ``&``, ``=``, ``!=``, ``<``, ``>``, ``+``, ``-``,
``:`` regex, parentheses, quoted strings) and the applications Set,
GotoIf, Goto, Gosub, Return, ExecIf, NoOp, Wait, Dial, Queue, Pickup,
VoiceMail, Playback, Busy and Hangup.

Applications that talk to phones (Dial, Queue, Pickup, VoiceMail, Wait,
Playback, Busy) are recorded, not performed: a Dial is recorded and then
"not answered", so the plan continues as after a timeout. AstDB and queue
members come from the fake AMI peer (tests/ami_server.py), which the
Asterisk driver wrote to over the wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STOP_APPS = {"hangup", "busy"}
RECORDED_APPS = {"dial", "queue", "pickup", "voicemail", "wait", "playback", "busy", "hangup"}


@dataclass
class Priority:
    label: str
    app: str
    data: str


@dataclass
class Extension:
    pattern: str
    priorities: list[Priority] = field(default_factory=list)

    def matches(self, exten: str) -> bool:
        if not self.pattern.startswith("_"):
            return self.pattern == exten
        regex = ""
        chars = iter(self.pattern[1:])
        for c in chars:
            if c == "X":
                regex += "[0-9]"
            elif c == "Z":
                regex += "[1-9]"
            elif c == "N":
                regex += "[2-9]"
            elif c == ".":
                regex += ".+"
            elif c == "!":
                regex += ".*"
            elif c == "[":
                body = ""
                for d in chars:
                    if d == "]":
                        break
                    body += d
                regex += f"[{body}]"
            else:
                regex += re.escape(c)
        return re.fullmatch(regex, exten) is not None


def parse(text: str) -> dict[str, list[Extension]]:
    contexts: dict[str, list[Extension]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip() if not raw.strip().startswith(";") else ""
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = contexts.setdefault(line[1:-1], [])
            continue
        kind, _, rest = line.partition("=>")
        kind = kind.strip()
        if kind == "exten":
            pattern, prio, app = _split_exten(rest.strip())
            current.append(Extension(pattern))
        elif kind == "same":
            prio, app = rest.strip().split(",", 1)
        else:
            raise ValueError(f"unsupported line: {raw}")
        label = re.fullmatch(r"(?:\d+|n)(?:\((\w+)\))?", prio.strip()).group(1) or ""
        name, _, data = app.partition("(")
        current[-1].priorities.append(Priority(label, name.strip(), data[:-1] if data.endswith(")") else data))
    return contexts


def _split_exten(rest: str) -> tuple[str, str, str]:
    pattern, prio, app = rest.split(",", 2)
    return pattern.strip(), prio, app


class Hangup(Exception):
    pass


@dataclass
class Call:
    """One call through the dialplan: what it did, in order."""

    apps: list[tuple[str, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def dials(self) -> list[str]:
        return [data for app, data in self.apps if app == "Dial"]

    def did(self, name: str) -> list[str]:
        return [data for app, data in self.apps if app == name]


class Dialplan:
    def __init__(self, text: str, fake, *, max_steps: int = 5000):
        self.contexts = parse(text)
        self.fake = fake  # tests.ami_server.FakeAsterisk: AstDB and queues
        self.max_steps = max_steps

    # -- running -------------------------------------------------------------------
    def call(self, context: str, exten: str, *, caller: str = "", variables: dict | None = None) -> Call:
        """Run a call entering ``context`` at ``exten``; ``variables`` are
        inherited ones (a Local leg's)."""
        call = Call(variables={"CALLERID(num)": caller, **(variables or {})})
        stack: list[tuple[str, str, int]] = []
        ctx, ext, pos = context, exten, 0
        steps = 0
        try:
            while True:
                steps += 1
                if steps > self.max_steps:
                    raise RuntimeError("the dialplan loops")
                extension = self._find(ctx, ext)
                if pos >= len(extension.priorities):
                    return call  # fell off the end: Asterisk hangs up
                prio = extension.priorities[pos]
                call.variables["EXTEN"] = ext
                app = prio.app.lower()
                data = self.substitute(prio.data, call)
                pos += 1
                if app == "execif":
                    cond, _, inner = data.partition("?")
                    if self.truth(cond):
                        name, _, args = inner.partition("(")
                        app, data = name.strip().lower(), args[:-1]
                    else:
                        continue
                if app == "set":
                    name, _, value = data.partition("=")
                    call.variables[name.lstrip("_")] = value
                elif app == "noop":
                    pass
                elif app == "gotoif":
                    cond, _, labels = data.partition("?")
                    yes, _, no = labels.partition(":")
                    target = yes if self.truth(cond) else no
                    if target:
                        pos = self._label(ctx, ext, target)
                elif app == "goto":
                    pos = self._label(ctx, ext, data)
                elif app == "gosub":
                    sub_ctx, sub_ext, _ = _args(data)
                    stack.append((ctx, ext, pos))
                    ctx, ext, pos = sub_ctx, sub_ext, 0
                elif app == "return":
                    ctx, ext, pos = stack.pop()
                elif app in RECORDED_APPS:
                    call.apps.append((prio.app if prio.app.lower() == app else app.title(), data))
                    if app in STOP_APPS:
                        raise Hangup
                else:
                    raise ValueError(f"unsupported application {prio.app}")
        except Hangup:
            return call

    def _find(self, context: str, exten: str) -> Extension:
        for extension in self.contexts[context]:
            if extension.matches(exten):
                return extension
        raise KeyError(f"no {exten} in [{context}]")

    def _label(self, context: str, exten: str, label: str) -> int:
        priorities = self._find(context, exten).priorities
        return next(i for i, p in enumerate(priorities) if p.label == label)

    # -- substitution ------------------------------------------------------------------
    def substitute(self, text: str, call: Call) -> str:
        out, i = "", 0
        while i < len(text):
            if text.startswith("${", i) or text.startswith("$[", i):
                opener, closer = text[i + 1], "}" if text[i + 1] == "{" else "]"
                depth, j = 1, i + 2
                while depth:
                    if text[j] == opener:
                        depth += 1
                    elif text[j] == closer:
                        depth -= 1
                    j += 1
                inner = self.substitute(text[i + 2 : j - 1], call)
                out += self._variable(inner, call) if opener == "{" else self.expression(inner)
                i = j
            else:
                out += text[i]
                i += 1
        return out

    def _variable(self, inner: str, call: Call) -> str:
        match = re.fullmatch(r"(\w+)\((.*)\)", inner, re.S)
        if match:
            return self._function(match.group(1), match.group(2), call)
        name, _, offset = inner.partition(":")
        value = call.variables.get(name, "")
        return value[int(offset) :] if offset else value

    def _function(self, name: str, args: str, call: Call) -> str:
        name = name.upper()
        if name == "CALLERID":
            return call.variables.get(f"CALLERID({args})", "")
        if name == "DB":
            return self.fake.astdb.get("/" + args, "")
        if name == "DB_EXISTS":
            value = self.fake.astdb.get("/" + args)
            call.variables["DB_RESULT"] = value or ""
            return "1" if value is not None else "0"
        if name == "IF":
            cond, _, branches = args.partition("?")
            yes, _, no = branches.partition(":")
            return yes if self.truth(cond) else no
        if name == "CUT":
            var, delimiter, index = _args(args)
            parts = call.variables.get(var, "").split(delimiter or "-")
            n = int(index)
            return parts[n - 1] if 0 < n <= len(parts) else ""
        if name == "QUEUE_MEMBER_LIST":
            return ",".join(self.fake.queues.get(args, {}))
        raise ValueError(f"unsupported function {name}")

    # -- expressions ----------------------------------------------------------------------
    def truth(self, value: str) -> bool:
        value = value.strip()
        return value not in ("", "0")

    def expression(self, text: str) -> str:
        tokens = _tokens(text)
        value, rest = _or(tokens)
        if rest:
            raise ValueError(f"cannot read expression {text!r}")
        return value


def _args(data: str) -> list[str]:
    """Comma-separated arguments; a backslash escapes the next character."""
    args, current, escaped = [], "", False
    for c in data:
        if escaped:
            current += c
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            args.append(current)
            current = ""
        else:
            current += c
    args.append(current)
    return args


TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(!=|[|&=<>+\-:()!])|([^\s|&=<>+\-:()!"]+))')


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot read expression {text!r}")
        tokens.append(match.group(1) or match.group(2) or match.group(3))
        pos = match.end()
    return tokens


def _value(token: str) -> str:
    return token[1:-1] if token.startswith('"') else token


def _num(value: str):
    try:
        return int(value)
    except ValueError:
        return None


def _or(tokens):
    left, tokens = _and(tokens)
    while tokens and tokens[0] == "|":
        right, tokens = _and(tokens[1:])
        left = left if left not in ("", "0") else right
    return left, tokens


def _and(tokens):
    left, tokens = _compare(tokens)
    while tokens and tokens[0] == "&":
        right, tokens = _compare(tokens[1:])
        left = left if left not in ("", "0") and right not in ("", "0") else "0"
    return left, tokens


def _compare(tokens):
    left, tokens = _sum(tokens)
    while tokens and tokens[0] in ("=", "!=", "<", ">"):
        op = tokens[0]
        right, tokens = _sum(tokens[1:])
        a, b = _num(left), _num(right)
        if a is None or b is None:
            a, b = left, right
        result = {"=": a == b, "!=": a != b, "<": a < b, ">": a > b}[op]
        left = "1" if result else "0"
    return left, tokens


def _sum(tokens):
    left, tokens = _regex(tokens)
    while tokens and tokens[0] in ("+", "-"):
        op = tokens[0]
        right, tokens = _regex(tokens[1:])
        a, b = int(left or 0), int(right or 0)
        left = str(a + b if op == "+" else a - b)
    return left, tokens


def _regex(tokens):
    left, tokens = _unary(tokens)
    while tokens and tokens[0] == ":":
        pattern, tokens = _unary(tokens[1:])
        # Asterisk's ":" anchors at the start and answers the matched length.
        match = re.match(pattern.replace("\\\\", "\\"), left)
        left = str(len(match.group(0))) if match else "0"
    return left, tokens


def _unary(tokens):
    if tokens[0] == "!":
        value, rest = _unary(tokens[1:])
        return ("1" if value in ("", "0") else "0"), rest
    if tokens[0] == "(":
        value, rest = _or(tokens[1:])
        return value, rest[1:]
    return _value(tokens[0]), tokens[1:]
