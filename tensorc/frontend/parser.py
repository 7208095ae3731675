"""Text -> syntax tree (`syntax.Module`), with a `Span` on every node.

The grammar is grammar/tensorc.lark (LALR). Lark errors become `SyntaxError_` naming the expected
tokens in words; nothing from lark escapes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, v_args

from tensorc.errors import Span, SyntaxError_
from tensorc.frontend import syntax as S

_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "ASSIGN": "an assignment ('=', '+=!', '+=', 'max=!', ...)",
    "CMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/', '//' or '%'",
    "COLON": "':'",
    "$END": "end of input",
}


KEYWORDS = ("def", "where", "in", "let", "exists")


def _grammar_text() -> str:
    try:
        from importlib.resources import files

        return (files("tensorc.grammar") / "tensorc.lark").read_text()
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        return (Path(__file__).resolve().parents[2] / "grammar" / "tensorc.lark").read_text()


@functools.cache
def _lark() -> Lark:
    """The LALR parser. Its tables are kept in tensorc's kernel store (kind "grammar", keyed by
    the grammar, the options, lark's and Python's versions), which only reads files the user
    wrote; lark's serialised form is plain data, and a stored copy that names any Python object
    is refused (and rebuilt). `TENSORC_CACHE_DIR=off` builds them every time (~0.1-0.5 s)."""
    import io
    import sys

    from tensorc.cache import pickled, store

    text = _grammar_text()
    options = {"parser": "lalr", "propagate_positions": True, "maybe_placeholders": True}
    key = store.cache_key(grammar=text, options=options, lark=lark.__version__,
                          python=sys.version)

    def decode(payload: bytes) -> Lark:
        pickled.loads_data(payload)  # raises unless it is plain data
        return Lark.load(io.BytesIO(payload))

    parser = store.read("grammar", key, ".pickle", decode=decode)
    if parser is None:
        parser = Lark(text, **options)
        buf = io.BytesIO()
        parser.save(buf)
        store.write("grammar", key, buf.getvalue(), ".pickle", {"def": "tensorc.lark"})
    return parser


def _describe(term: str) -> str:
    if term in _WORDS:
        return _WORDS[term]
    try:
        pattern = _lark().get_terminal(term).pattern
    except KeyError:
        return term.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else term.lower()


class _Builder(Transformer):
    """Lark tree -> syntax nodes. Every node gets the span of its rule."""

    def __init__(self, source: str, file: str):
        super().__init__()
        self.lines = source_lines(source)
        self.file = file

    def span_at(self, line: int, col: int, end_line: int | None = None, end_col: int | None = None):
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if end_line == line and end_col is not None:
            length = max(1, end_col - col)
        else:
            length = max(1, len(text) - col + 1)
        return Span(self.file, line, col, text, length)

    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return self.span_at(meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return self.span_at(tok.line, tok.column, tok.end_line, tok.end_column)

    def _name(self, tok: Token, allow_const: bool = False) -> S.Name:
        name = str(tok)
        if name in KEYWORDS or (name in ("true", "false") and not allow_const):
            # the contextual lexer lets a keyword through where only a name fits; refuse it so
            # every program prints back to parseable text
            raise SyntaxError_(
                f"'{name}' is a keyword, not a name", self._tok(tok), "choose another name"
            )
        return S.Name(name, self._tok(tok))

    # --- defs ---------------------------------------------------------------------------------
    @v_args(meta=True)
    def start(self, meta, defs):
        return tuple(defs)

    @v_args(meta=True)
    def def_(self, meta, ch):
        name, rest = ch[0], ch[1:]
        # `[a ("," a)*]` leaves None placeholders for empty lists; outputs come tagged
        params, outputs, stmts = [], [], []
        for c in rest:
            if isinstance(c, S.Stmt):
                stmts.append(c)
            elif isinstance(c, tuple) and c and c[0] == "output":
                outputs.append(c[1])
            elif isinstance(c, S.Param):
                params.append(c)
        return S.DefNode(
            self._name(name), tuple(params), tuple(outputs), tuple(stmts), self._span(meta)
        )

    @v_args(meta=True)
    def param(self, meta, ch):
        if len(ch) == 2:
            dtype, name = ch
            dims = None
        else:
            dtype, dims, name = ch
        return S.Param(self._name(dtype), dims, self._name(name), self._span(meta))

    @v_args(meta=True)
    def output_untyped(self, meta, ch):
        return ("output", S.Param(None, None, self._name(ch[0]), self._span(meta)))

    @v_args(meta=True)
    def output_typed(self, meta, ch):
        return ("output", self.param(meta, ch))

    def dims(self, ch):
        return tuple(c for c in ch if c is not None)

    # --- statements ---------------------------------------------------------------------------
    @v_args(meta=True)
    def stmt(self, meta, ch):
        (tensor, indices), op, rhs = ch[0], ch[1], ch[2]
        clauses: tuple = ()
        for c in ch[3:]:
            if isinstance(c, tuple) and c and c[0] == "where":
                clauses = c[1]
        return S.Stmt(tensor, indices, str(op), rhs, clauses, self._span(meta))

    def lhs(self, ch):
        return self._name(ch[0]), tuple(self._name(t) for t in ch[1:] if t is not None)

    def equiv(self, ch):
        return ("equiv",)

    def where(self, ch):
        return ("where", tuple(ch))

    @v_args(meta=True)
    def range_clause(self, meta, ch):
        return S.RangeClause(self._name(ch[0]), ch[1], ch[2], self._span(meta))

    @v_args(meta=True)
    def let_clause(self, meta, ch):
        return S.LetClause(self._name(ch[0]), ch[1], self._span(meta))

    @v_args(meta=True)
    def exists_clause(self, meta, ch):
        return S.ExistsClause(ch[0], self._span(meta))

    @v_args(meta=True)
    def mask_clause(self, meta, ch):
        return S.MaskClause(ch[0], self._span(meta))

    # --- expressions --------------------------------------------------------------------------
    @v_args(meta=True)
    def ternary(self, meta, ch):
        return S.Ternary(ch[0], ch[1], ch[2], self._span(meta))

    @v_args(meta=True)
    def or_(self, meta, ch):
        return S.Binary("||", ch[0], ch[1], self._span(meta))

    @v_args(meta=True)
    def and_(self, meta, ch):
        return S.Binary("&&", ch[0], ch[1], self._span(meta))

    @v_args(meta=True)
    def compare(self, meta, ch):
        return S.Binary(str(ch[1]), ch[0], ch[2], self._span(meta))

    @v_args(meta=True)
    def binary(self, meta, ch):
        return S.Binary(str(ch[1]), ch[0], ch[2], self._span(meta))

    @v_args(meta=True)
    def neg(self, meta, ch):
        return S.Unary("-", ch[0], self._span(meta))

    @v_args(meta=True)
    def not_(self, meta, ch):
        return S.Unary("!", ch[0], self._span(meta))

    def number(self, ch):
        text = str(ch[0])
        is_float = any(c in text for c in ".eE")
        return S.Num(text, is_float, self._tok(ch[0]))

    def name(self, ch):
        return self._name(ch[0], allow_const=True)

    @v_args(meta=True)
    def apply(self, meta, ch):
        fn, (args, binders) = ch[0], ch[1]
        return S.Apply(str(fn), args, binders, False, self._span(meta))

    @v_args(meta=True)
    def bracket(self, meta, ch):
        args = tuple(c for c in ch[1:] if c is not None)
        return S.Apply(str(ch[0]), args, None, True, self._span(meta))

    def args(self, ch):
        items = list(ch)
        colon = next(
            (k for k, c in enumerate(items) if isinstance(c, Token) and c.type == "COLON"), None
        )
        if colon is None:
            return tuple(c for c in items if c is not None), None
        before = [c for c in items[:colon] if c is not None]
        after = tuple(c for c in items[colon + 1 :] if c is not None)
        binders = []
        for b in before:
            if isinstance(b, S.Name) and b.id in ("true", "false"):
                raise SyntaxError_(
                    f"'{b.id}' is a keyword, not a name", b.span, "choose another name"
                )
            if not isinstance(b, S.Name):
                raise SyntaxError_(
                    "a reduction binds index names before ':'",
                    getattr(b, "span", None),
                    "write e.g. `sum(j: e)` or `sum(j, k: e)`",
                )
            binders.append(b)
        if not binders:
            raise SyntaxError_(
                "a reduction needs at least one index before ':'",
                getattr(after[0], "span", None) if after else None,
                "write e.g. `sum(j: e)`",
            )
        return after, tuple(binders)


def source_lines(source: str) -> list[str]:
    """The lines as the lexer counts them (only '\\n' ends a line; `str.splitlines` also splits at
    '\\r', '\\f', ... and put carets on the wrong line), with other control characters shown as
    spaces so the caret stays under its column."""
    table = {ord(c): " " for c in "\r\f\v\x1c\x1d\x1e\x85\u2028\u2029\t"}
    return [line.translate(table) for line in source.split("\n")]


def parse_module(source: str, file: str = "<string>") -> S.Module:
    """Parse .tc source text into a syntax tree; raise `SyntaxError_` on bad input.

    Example: `parse_module("def f(float(N) A) -> (B) { B(i) = A(i) }").defs[0].name.id == "f"`.
    """
    lines = source_lines(source)

    def span(line: int, col: int, length: int = 1) -> Span:
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return Span(file, line, col, text, length)

    try:
        tree = _lark().parse(source)
    except lark.exceptions.UnexpectedToken as e:
        expected = sorted(
            {_describe(t) for t in e.expected if t != "$END"}
            | ({"end of input"} if "$END" in e.expected else set())
        )
        tok = e.token
        if tok.type == "$END":
            line = len(lines)
            col = len(lines[-1]) + 1
            found = "end of input"
        else:
            line, col = tok.line, tok.column
            found = f"'{tok}'"
        raise SyntaxError_(
            f"unexpected {found}",
            span(line, col, max(1, len(str(tok))) if tok.type != "$END" else 1),
            "expected " + _join(expected),
        ) from None
    except lark.exceptions.UnexpectedCharacters as e:
        allowed = sorted({_describe(t) for t in (e.allowed or ())})
        ch = source[e.pos_in_stream] if e.pos_in_stream < len(source) else "?"
        raise SyntaxError_(
            f"unexpected character {ch!r}",
            span(e.line, e.column),
            ("expected " + _join(allowed)) if allowed else "remove or fix this character",
        ) from None
    except lark.exceptions.UnexpectedEOF as e:
        expected = sorted({_describe(t) for t in e.expected})
        raise SyntaxError_(
            "unexpected end of input",
            span(len(lines), len(lines[-1]) + 1),
            "expected " + _join(expected),
        ) from None
    try:
        defs = _Builder(source, file).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, SyntaxError_):
            raise e.orig_exc from None
        raise
    return S.Module(tuple(defs), file)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words) or "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]
