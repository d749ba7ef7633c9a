"""A schema-less parser for protobuf's text format, as Caffe's prototxt files use it.

``parse(text, filename)`` returns a :class:`Message`: each field name maps to the list of its values in
file order, a value being an int, a float, a str (quoted string), an :class:`Ident` (enum names,
true/false) or a nested Message. The grammar accepted is protobuf's: ``#`` comments, single or double
quoted strings (adjacent ones concatenate; C escapes), ``field: value``, ``field { }``, ``field: { }``,
``field < >``, ``field: [a, b]``, optional ``;`` or ``,`` separators, signed and scientific numbers, and
``inf``/``nan``. Every error names the file, line and column. Types are applied by the typed accessors
(``m.int('num_output')``...), so a wrong type is also reported at the value's line and column.
"""
import math
import re

__all__ = ["Ident", "Message", "PrototxtError", "parse", "parse_file"]


class PrototxtError(ValueError):
    def __init__(self, filename, line, col, msg):
        self.filename, self.line, self.col = filename, line, col
        super().__init__(f"{filename}:{line}:{col}: {msg}")


class Ident(str):
    """An unquoted identifier: an enum value name or true/false."""


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f\v]+|\n)
  | (?P<comment>\#[^\n]*)
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[fF]?))
  | (?P<ident>-?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<punct>[{}<>\[\]:;,])
""", re.VERBOSE)

# protobuf's default recursion limit for text and binary parsing; deeper input would otherwise end in a
# bare RecursionError naming no file.
_MAX_DEPTH = 100

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "?": "?"}


def _unescape(body):
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xX":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            if not m:
                raise ValueError("bad \\x escape")
            out.append(chr(int(m.group(), 16)))
            i += 2 + len(m.group())
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(chr(int(m.group(), 8)))
            i += 1 + len(m.group())
        else:
            raise ValueError(f"unknown escape \\{e}")
    return "".join(out)


class Message:
    """A parsed message. ``fields[name]`` is the list of values; ``where[name]`` their (line, col)."""

    __slots__ = ("fields", "where", "filename", "line", "col")

    def __init__(self, filename="<string>", line=1, col=1):
        self.fields, self.where = {}, {}
        self.filename, self.line, self.col = filename, line, col

    def add(self, name, value, line=0, col=0):
        self.fields.setdefault(name, []).append(value)
        self.where.setdefault(name, []).append((line, col))

    def __contains__(self, name):
        return name in self.fields

    def __iter__(self):
        return iter(self.fields)

    def __repr__(self):
        return f"Message({self.fields!r})"

    def error(self, name, msg, index=-1):
        """A PrototxtError at the position of field ``name`` (or of this message)."""
        if name in self.where:
            line, col = self.where[name][index]
        else:
            line, col = self.line, self.col
        return PrototxtError(self.filename, line, col, msg)

    # --- access ---------------------------------------------------------------------------------
    def all(self, name):
        return self.fields.get(name, [])

    def get(self, name, default=None):
        """The last value of ``name`` (protobuf: a repeated optional field keeps the last)."""
        values = self.fields.get(name)
        return values[-1] if values else default

    def msg(self, name):
        """The sub-message ``name`` (an empty one if absent)."""
        value = self.get(name)
        if value is None:
            return Message(self.filename, self.line, self.col)
        if not isinstance(value, Message):
            raise self.error(name, f"field '{name}' must be a message {{ ... }}")
        return value

    def msgs(self, name):
        values = self.all(name)
        for i, v in enumerate(values):
            if not isinstance(v, Message):
                raise self.error(name, f"field '{name}' must be a message {{ ... }}", i)
        return values

    def _typed(self, name, default, convert, what, index=-1):
        values = self.fields.get(name)
        if not values:
            return default
        value = values[index]
        try:
            return convert(value)
        except (TypeError, ValueError):
            raise self.error(name, f"field '{name}' expects {what}, got {value!r}", index) from None

    def int(self, name, default=0):
        return self._typed(name, default, _to_int, "an integer")

    def float(self, name, default=0.0):
        return self._typed(name, default, _to_float, "a number")

    def bool(self, name, default=False):
        return self._typed(name, default, _to_bool, "true or false")

    def str(self, name, default=""):
        return self._typed(name, default, _to_str, "a quoted string")

    def enum(self, name, default, names):
        """An enum given by name (or by number, indexing ``names``); checked against ``names``."""
        def convert(v):
            if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(names):
                return names[v]
            if isinstance(v, Ident) and v in names:
                return str(v)
            raise ValueError
        return self._typed(name, default, convert, "one of " + ", ".join(names))

    def ints(self, name):
        return [self._typed(name, None, _to_int, "an integer", i) for i in range(len(self.all(name)))]

    def floats(self, name):
        return [self._typed(name, None, _to_float, "a number", i) for i in range(len(self.all(name)))]

    def strs(self, name):
        return [self._typed(name, None, _to_str, "a quoted string", i) for i in range(len(self.all(name)))]


def _to_int(v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError
    return v


def _to_float(v):
    if isinstance(v, Ident):
        s = v.lower().lstrip("-")
        if s in ("inf", "infinity", "nan"):
            f = math.inf if s != "nan" else math.nan
            return -f if v.startswith("-") else f
        raise ValueError
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError
    return float(v)


def _to_bool(v):
    if isinstance(v, Ident) and v in ("true", "True", "t", "false", "False", "f"):
        return v in ("true", "True", "t")
    if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
        return bool(v)
    raise ValueError


def _to_str(v):
    if isinstance(v, str) and not isinstance(v, Ident):
        return v
    raise ValueError


def _tokens(text, filename):
    """Yields (kind, text, line, col); kind is number, ident, string, punct or eof."""
    pos, line, line_start = 0, 1, 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if not m:
            rest = text[pos:].split("\n", 1)[0].rstrip()
            hint = " (a string missing its opening quote?)" if rest.endswith(('"', "'")) else ""
            raise PrototxtError(filename, line, pos - line_start + 1, f"unexpected character {text[pos]!r}{hint}")
        kind = m.lastgroup
        if kind == "ws":
            if m.group() == "\n":
                line, line_start = line + 1, m.end()
        elif kind != "comment":
            yield kind, m.group(), line, pos - line_start + 1
        pos = m.end()
    yield "eof", "", line, pos - line_start + 1


def parse(text, filename="<string>"):
    """Parses prototxt ``text`` into a Message; errors name ``filename``, line and column."""
    toks = list(_tokens(text, filename))
    i = 0

    def fail(tok, msg):
        raise PrototxtError(filename, tok[2], tok[3], msg)

    def scalar(tok):
        kind, s, line, col = tok
        if kind == "number":
            body = s[:-1] if s[-1] in "fF" and not s.lower().startswith(("0x", "-0x")) else s
            if re.fullmatch(r"-?(0[xX][0-9a-fA-F]+)", body):
                return int(body, 16)
            if re.fullmatch(r"-?\d+", body):
                return int(body)
            return float(body)
        if kind == "ident":
            return Ident(s)
        fail(tok, f"expected a value, found {s!r}" if s else "expected a value, found the end of the file")

    def parse_message(msg, close, depth=0):
        nonlocal i
        if depth > _MAX_DEPTH:
            fail(toks[i - 1], f"messages nested more than {_MAX_DEPTH} deep")
        while True:
            tok = toks[i]
            kind, s, line, col = tok
            if kind == "eof":
                if close:
                    fail(tok, f"missing '{close}' to close the message opened at line {msg.line}")
                return
            if kind == "punct" and s == close:
                i += 1
                return
            if kind != "ident" or s.startswith("-"):
                fail(tok, f"expected a field name, found {s!r}")
            i += 1
            name = s
            colon = toks[i][1] == ":" and toks[i][0] == "punct"
            if colon:
                i += 1
            nxt = toks[i]
            if nxt[0] == "punct" and nxt[1] in "{<":
                i += 1
                sub = Message(filename, nxt[2], nxt[3])
                parse_message(sub, "}" if nxt[1] == "{" else ">", depth + 1)
                msg.add(name, sub, line, col)
            elif not colon:
                fail(nxt, f"expected ':' or '{{' after field name '{name}', found {nxt[1]!r}")
            elif nxt[0] == "punct" and nxt[1] == "[":
                i += 1
                while not (toks[i][0] == "punct" and toks[i][1] == "]"):
                    t = toks[i]
                    if t[0] == "punct" and t[1] in "{<":
                        i += 1
                        sub = Message(filename, t[2], t[3])
                        parse_message(sub, "}" if t[1] == "{" else ">", depth + 1)
                        msg.add(name, sub, t[2], t[3])
                    else:
                        msg.add(name, value(), t[2], t[3])
                    if toks[i][0] == "punct" and toks[i][1] == ",":
                        i += 1
                    elif not (toks[i][0] == "punct" and toks[i][1] == "]"):
                        fail(toks[i], f"expected ',' or ']' in the list of '{name}', found {toks[i][1]!r}")
                i += 1
            else:
                msg.add(name, value(), line, col)
            if toks[i][0] == "punct" and toks[i][1] in ";,":
                i += 1

    def value():
        nonlocal i
        tok = toks[i]
        if tok[0] == "string":
            parts = []
            while toks[i][0] == "string":
                t = toks[i]
                try:
                    parts.append(_unescape(t[1][1:-1]))
                except (ValueError, IndexError) as e:
                    fail(t, f"bad string literal: {e}")
                i += 1
            return "".join(parts)
        i += 1
        return scalar(tok)

    root = Message(filename, 1, 1)
    parse_message(root, None)
    return root


def parse_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise PrototxtError(str(path), 1, 1, f"not a text file ({e})") from None
    return parse(text, str(path))
