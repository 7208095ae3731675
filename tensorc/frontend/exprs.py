"""Checked, typed lowering of one statement's syntax expressions to TensorIR expressions.

Typing follows numpy (`types.promote`, `ops.result_dtype`) with *weak scalars* (LANGUAGE.md 5):
literals, index variables and size symbols take the dtype of the array they meet (float32 * 2 ->
float32, int32 + i -> int32, `a(i) + i * 0.5 + N` -> a's dtype); a float literal makes an int partner
float64 and takes a float partner's dtype. An expression of literals, indices and sizes alone is
float32 when it holds a float literal and int32 otherwise, as in Tensor Comprehensions. Expressions
made only of literals fold to one weak literal (`2 * 3` -> 6). Index expressions (subscripts) are
int64.

`Reduce` nodes come out with placeholder ranges (`lo is None`); `sema` fills them after range
inference.
"""

from __future__ import annotations

import dataclasses
import math
import operator

from tensorc.errors import (
    NameError_,
    ShapeError,
    Span,
    StatementError,
    SyntaxError_,
    TypeError_,
    UnsupportedError,
    warn,
)
from tensorc.frontend import syntax as S
from tensorc.frontend.names import (
    BINARY_OPS,
    BUILTINS,
    DTYPE_NAMES,
    KNN_REDUCERS,
    REDUCERS,
    TC_UNSUPPORTED,
    did_you_mean,
)
from tensorc.ir.ops import OPS, result_dtype
from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Const,
    Expr,
    Index,
    Range,
    Reduce,
    TensorDecl,
    walk,
)
from tensorc.ir.types import INDEX, is_float, is_int, promote

Typed = tuple[Expr, str | None]  # (expr, weak kind: None | "int" | "float")

_WEAK_OPS = ("add", "sub", "mul", "div", "floordiv", "mod", "neg")
_FOLD = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}
_ARITH_RULES = ("promote", "float", "first")
_WEAK_REDUCERS = ("sum", "prod", "max", "min")  # the result has the body's dtype
_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38}


class Env:
    """What a statement may refer to: the def's tensors, sizes, and which tensors are defined yet."""

    def __init__(self, decls: dict[str, TensorDecl], sizes: set[str], body_first: dict[str, Span]):
        self.decls = decls  # every tensor whose decl is known (inputs, declared outputs, defined)
        self.sizes = sizes
        self.body_first = body_first  # tensor -> span of the statement that first writes it
        self.defined: set[str] = {n for n, d in decls.items() if d.role == "input"}
        self.names: set[str] = set(decls) | set(body_first)  # every tensor name of the def
        # tensor -> ((lo, hi), ...) where its first defining statement wrote it: readers stay there
        self.ranges: dict[str, tuple] = {}
        # masked temporary -> (its LHS indices, its mask): readers inherit it (frontend/masks.py)
        self.masks: dict[str, tuple] = {}

    def read(self, name: str, span: Span | None) -> TensorDecl:
        if name not in self.defined:
            where = self.body_first.get(name)
            if where is not None:
                raise StatementError(
                    f"'{name}' is read before any statement defines it",
                    span,
                    f"statements run in source order; '{name}' is first defined at line {where.line}"
                    " (a cycle or a use before definition)",
                )
            raise StatementError(
                f"output '{name}' is read but never written", span, f"write '{name}' first"
            )
        return self.decls[name]


class Lowerer:
    """Lowers the expressions of one statement; collects its indices and tensor accesses."""

    def __init__(self, env: Env, lhs: tuple[str, ...]):
        self.env = env
        self.lhs = lhs
        self.free: dict[str, Span | None] = {}  # indices used outside any binder, first use
        self.binders: dict[str, Span | None] = {}
        self.accesses: list[tuple[Access, Span | None]] = []
        self.guarded: set[int] = set()  # positions in `accesses` inside a `?:` branch
        self.in_branch = 0
        self.knn: list[Reduce] = []
        self.mask_mode = False  # in masks/exists: no new indices may appear
        self.size_ranges: dict[str, str] = {}  # binder of a size value -> size name
        self.reserved: set[str] = set()  # names used anywhere in the statement
        self.float_literals: list[tuple[float, Span | None]] = []

    def warn_overflows(self, e: Expr) -> None:
        """A float literal that its inferred dtype cannot hold (`-1e30` in float16) is infinite."""
        for x in walk(e):
            if isinstance(x, Const) and x.dtype in _FLOAT_MAX and abs(x.value) > _FLOAT_MAX[x.dtype]:
                span = next((sp for v, sp in self.float_literals if abs(v) == abs(x.value)), None)
                warn(
                    f"the literal {x.value:g} overflows {x.dtype} (largest {_FLOAT_MAX[x.dtype]:g})"
                    " and becomes infinite",
                    span,
                    f"use a value {x.dtype} can hold, or write -inf/inf on purpose, e.g. "
                    f"`-{_FLOAT_MAX[x.dtype]:g}` as a mask value",
                )

    # --- names ----------------------------------------------------------------------------------
    def known_indices(self) -> list[str]:
        return [*self.lhs, *self.free, *self.binders]

    def name(self, node: S.Name, bound: tuple[str, ...], index_ctx: bool = False) -> Typed:
        n = node.id
        weak = None if index_ctx else "int"  # subscripts stay int64: `A(h * KH + kh)`
        if n in bound:
            return Index(n), weak
        if n in self.env.names:
            decl = self.env.read(n, node.span)
            if decl.shape:
                raise ShapeError(
                    f"tensor '{n}' has {len(decl.shape)} dimension(s) but is used without indices",
                    node.span,
                    f"write {n}({', '.join('i' + str(k) for k in range(len(decl.shape)))})",
                )
            return Access(n, (), decl.dtype), None
        if n in self.env.sizes:
            return self.size_value(n), "int"  # a size is a Python-int-like (weak) value
        if n in ("true", "false"):
            return Const(n == "true", "bool"), None
        if self.mask_mode:
            if n in self.known_indices():
                return Index(n), weak
            raise NameError_(
                f"unknown index or tensor '{n}'",
                node.span,
                did_you_mean(n, [*self.known_indices(), *self.env.names])
                or "indices in `where` clauses must appear in the statement",
            )
        if n not in self.free:
            self.free[n] = node.span
        return Index(n), weak

    def size_value(self, n: str) -> Reduce:
        """A size symbol used as a value. TensorIR has no node for it, so it is written as the
        count `sum(z: 1)` over `z in 0:N` (exact, and every stage already knows Reduce);
        `ranges.index_to_sympy` and the printer recognise the form (`verifier.size_value_of`)."""
        k = 0
        z = f"{n}_size"
        while z in self.binders or z in self.free or z in self.lhs or z in self.reserved:
            k += 1
            z = f"{n}_size_{k}"
        self.binders[z] = None
        self.size_ranges[z] = n
        return Reduce("sum", (Range(z, None, None),), Const(1, INDEX), None, INDEX)

    # --- entry ------------------------------------------------------------------------------
    def lower(self, node: S.Node, index_ctx: bool = False, bound: tuple[str, ...] = ()) -> Typed:
        if isinstance(node, S.Num):
            typed = _literal(node)
            if node.is_float:
                self.float_literals.append((typed[0].value, node.span))
            return typed
        if isinstance(node, S.Name):
            return self.name(node, bound, index_ctx)
        if isinstance(node, S.Apply):
            return self.apply(node, index_ctx, bound)
        if isinstance(node, S.Unary):
            return self.unary(node, index_ctx, bound)
        if isinstance(node, S.Binary):
            return self.binary(node, index_ctx, bound)
        if isinstance(node, S.Ternary):
            cond = self.strong(self.lower(node.cond, index_ctx, bound))
            if cond.dtype != "bool":
                raise TypeError_(
                    f"the condition of '?:' must be bool, not {cond.dtype}",
                    node.cond.span,
                    "compare explicitly, e.g. `x != 0 ? a : b`",
                )
            first = len(self.accesses)
            self.in_branch += 1  # `i < N ? A(i) : B(i - N)`: each read happens only where chosen
            ta, tb = self.lower(node.a, index_ctx, bound), self.lower(node.b, index_ctx, bound)
            self.in_branch -= 1
            self.guarded.update(range(first, len(self.accesses)))
            a, b = unify([ta, tb])
            weak = None
            if ta[1] and tb[1]:  # `j <= i ? 1 : 0` stays weak: it adapts to what it meets
                weak = "float" if "float" in (ta[1], tb[1]) else "int"
            return Call(
                "select", (cond, a, b), result_dtype("select", ("bool", a.dtype, b.dtype))
            ), weak
        raise AssertionError(f"lower: unexpected node {node!r}")

    def strong(self, typed: Typed) -> Expr:
        return settle(typed)

    # --- operators --------------------------------------------------------------------------
    def unary(self, node: S.Unary, index_ctx: bool, bound) -> Typed:
        x, weak = self.lower(node.x, index_ctx, bound)
        if node.op == "-":
            if weak and isinstance(x, Const):
                return Const(-x.value, x.dtype), weak
            if weak:
                return Call("neg", (x,), x.dtype), weak
            _no_bool("neg", (x,), node.span)
            return Call("neg", (x,), x.dtype), None
        if x.dtype != "bool":
            raise TypeError_(
                f"'!' needs a bool operand, not {x.dtype}",
                node.span,
                "write `x == 0` instead of `!x`",
            )
        return Call("not", (x,), "bool"), None

    def binary(self, node: S.Binary, index_ctx: bool, bound) -> Typed:
        op = BINARY_OPS[node.op]
        if op == "div" and index_ctx:
            op = "floordiv"  # in index expressions `/` is floor division (by a constant)
        ta = self.lower(node.a, index_ctx, bound)
        tb = self.lower(node.b, index_ctx, bound)
        if op in ("and", "or"):
            a, b = settle(ta), settle(tb)
            for x, sub in ((a, node.a), (b, node.b)):
                if x.dtype != "bool":
                    raise TypeError_(
                        f"'{node.op}' needs bool operands, not {x.dtype}",
                        sub.span,
                        "compare explicitly, e.g. `x != 0`",
                    )
            return Call(op, (a, b), "bool"), None
        folded = _fold(op, ta, tb)
        if folded is not None:
            return folded
        if ta[1] and tb[1] and op in _WEAK_OPS:  # sizes and literals stay weak: N * H * W
            kind = "float" if "float" in (ta[1], tb[1]) or op == "div" else "int"
            a, b = ta[0], tb[0]
            return Call(op, (a, b), result_dtype(op, (a.dtype, b.dtype))), kind
        a, b = unify([ta, tb])
        if OPS[op].result in _ARITH_RULES:
            _no_bool(op, (a, b), node.span)
        return Call(op, (a, b), result_dtype(op, (a.dtype, b.dtype))), None

    # --- calls, tensor reads, casts, reductions ------------------------------------------------
    def apply(self, node: S.Apply, index_ctx: bool, bound) -> Typed:
        fn = node.fn
        if node.binders is not None:
            return self.reduction(node, bound)
        if fn in self.env.names:
            return self.access(node, bound)
        if node.bracket:
            raise NameError_(
                f"unknown tensor '{fn}'", node.span, did_you_mean(fn, self.env.names) or None
            )
        if fn in DTYPE_NAMES:
            if len(node.args) != 1:
                raise TypeError_(f"a cast takes one argument, got {len(node.args)}", node.span)
            dt = DTYPE_NAMES[fn]
            e, weak = self.lower(node.args[0], index_ctx, bound)
            if weak == "int" or (weak == "float" and is_float(dt)):
                x = retype(e, dt)  # `float32(i - j)`: the weak value takes the cast's dtype
            else:
                x = settle((e, weak))
            return (x if x.dtype == dt else Call("cast", (x,), dt)), None
        if fn in BUILTINS:
            op = BUILTINS[fn]
            arity = OPS[op].arity
            if fn in ("max", "min") and len(node.args) == 1:
                raise SyntaxError_(
                    f"'{fn}' with one argument", node.span, f"a reduction is written `{fn}(j: e)`"
                )
            if arity >= 0 and len(node.args) != arity:
                raise TypeError_(
                    f"'{fn}' takes {arity} argument(s), got {len(node.args)}", node.span
                )
            typed = [self.lower(a, index_ctx, bound) for a in node.args]
            weak = None
            if all(w for _, w in typed) and OPS[op].result in (*_ARITH_RULES, "float"):
                # only weak arguments (`abs(i - j)`, `exp(-0.5 * i)`, `sqrt(N)`): the call stays
                # weak and takes the dtype of what it meets (`retype`), else int32 / float32
                floaty = OPS[op].result == "float" or any(w == "float" for _, w in typed)
                weak = "float" if floaty else "int"
            args = unify(typed)
            if OPS[op].result in _ARITH_RULES or OPS[op].result == "float":
                _no_bool(op, args, node.span)
            return Call(op, tuple(args), result_dtype(op, tuple(a.dtype for a in args))), weak
        if fn in REDUCERS:
            raise SyntaxError_(
                f"'{fn}' is a reduction and needs its indices", node.span, f"write `{fn}(j: e)`"
            )
        if fn in TC_UNSUPPORTED:
            raise UnsupportedError(f"builtin '{fn}' is not supported yet", node.span)
        raise NameError_(
            f"unknown tensor or function '{fn}'",
            node.span,
            did_you_mean(fn, [*self.env.names, *BUILTINS, *REDUCERS]),
        )

    def access(self, node: S.Apply, bound) -> Typed:
        decl = self.env.read(node.fn, node.span)
        if len(node.args) != len(decl.shape):
            raise ShapeError(
                f"'{node.fn}' has {len(decl.shape)} dimension(s) but is indexed with {len(node.args)}",
                node.span,
                f"'{node.fn}' is declared {decl.dtype}({', '.join(map(str, decl.shape))})",
            )
        indices = []
        for arg in node.args:
            x = self.lower(arg, True, bound)[0]  # subscripts keep int64
            if not is_int(x.dtype):
                raise TypeError_(
                    f"a {x.dtype} value used as an index of '{node.fn}'",
                    arg.span,
                    "indices must be integers; cast with int64(...) if you mean it",
                )
            indices.append(x)
        acc = Access(node.fn, tuple(indices), decl.dtype)
        self.accesses.append((acc, node.span))
        return acc, None

    def reduction(self, node: S.Apply, bound) -> Typed:
        fn = node.fn
        if fn not in REDUCERS:
            raise NameError_(
                f"unknown reduction '{fn}'",
                node.span,
                did_you_mean(fn, REDUCERS) or "reductions: " + ", ".join(REDUCERS),
            )
        want = 2 if fn in KNN_REDUCERS else 1
        if len(node.args) != want:
            form = f"{fn}(j: e, K)" if want == 2 else f"{fn}(j: e)"
            raise SyntaxError_(
                f"'{fn}' takes {want} argument(s) after ':'", node.span, f"write `{form}`"
            )
        names = []
        for b in node.binders:
            if b.id in self.lhs:
                raise StatementError(
                    f"index '{b.id}' is on the left-hand side and also reduced by {fn}({b.id}: ...)",
                    b.span,
                    "rename the reduction index",
                )
            if b.id in bound or b.id in names:
                raise StatementError(f"index '{b.id}' is bound twice", b.span, "rename one of them")
            if b.id in self.env.names or b.id in self.env.sizes:
                raise NameError_(
                    f"'{b.id}' is a tensor or size, not an index", b.span, "rename the index"
                )
            names.append(b.id)
            self.binders.setdefault(b.id, b.span)
        body, weak = self.lower(node.args[0], False, (*bound, *names))
        if fn not in _WEAK_REDUCERS:
            body, weak = settle((body, weak)), None
        if body.dtype == "bool" and fn in ("sum", "prod", "logsumexp", "softmax"):
            raise TypeError_(f"'{fn}' over bool values", node.span, "cast first, e.g. int32(c)")
        k = 0
        if fn in KNN_REDUCERS:
            kn = node.args[1]
            if not (isinstance(kn, S.Num) and not kn.is_float and int(kn.text) > 0):
                raise TypeError_(
                    f"the K of {fn} must be a positive integer literal",
                    kn.span,
                    f"e.g. {fn}(j: e, 5)",
                )
            k = int(kn.text)
        if fn in ("argmax", "argmin", "argkmin"):
            dtype = INDEX
        elif fn == "logsumexp":
            dtype = body.dtype if is_float(body.dtype) else "float64"
        else:
            dtype = body.dtype
        ranges = tuple(Range(n, None, None) for n in names)
        red = Reduce(fn, ranges, body, None, dtype, k, None)
        if fn in KNN_REDUCERS:
            self.knn.append(red)
        return red, weak  # a sum of weak values (`sum(j: 1)`) stays weak, like `min=! r_n`


# --- typing helpers ---------------------------------------------------------------------------
def _literal(node: S.Num) -> Typed:
    try:
        if node.is_float:
            value = float(node.text)
            if not math.isfinite(value):
                raise ValueError
            return Const(value, "float64"), "float"
        value = int(node.text)
        if not -(2**63) <= value < 2**63:
            raise TypeError_(
                f"integer literal {node.text} does not fit in int64",
                node.span,
                "write it as a float literal (e.g. 1e23) if a float is meant",
            )
        return Const(value, INDEX), "int"
    except ValueError:
        raise TypeError_(f"bad number '{node.text}'", node.span) from None


def settle(typed: Typed) -> Expr:
    """A weak expression alone (literals, indices, sizes) takes TC's default dtype: float32 when
    it holds a float literal, int32 otherwise."""
    e, weak = typed
    if weak is None:
        return e
    return retype(e, "float32" if weak == "float" else "int32")


def unify(items: list[Typed]) -> list[Expr]:
    """Give weak literals the dtype of their strong partners (numpy's NEP 50 rule)."""
    strong = [e.dtype for e, w in items if w is None]
    if not strong:
        return [e for e, _ in items]
    target = strong[0]
    for d in strong[1:]:
        target = promote(target, d)
    out = []
    for e, w in items:
        if w is None:
            out.append(e)
        elif w == "int":
            out.append(retype(e, target if target != "bool" else INDEX))
        else:
            out.append(retype(e, target if is_float(target) else "float64"))
    return out


def retype(e: Expr, dtype: str) -> Expr:
    """Give a weak expression (literals, sizes, + - * / // % of them) the dtype `dtype`."""
    if isinstance(e, Const):
        return Const(e.value, dtype)
    if isinstance(e, Reduce):  # a size value `sum(z: 1)`, or a reduction of weak values
        return dataclasses.replace(e, body=retype(e.body, dtype), dtype=dtype)
    if isinstance(e, Index):
        return e if e.dtype == dtype else Call("cast", (e,), dtype)
    if isinstance(e, Call) and (e.fn in _WEAK_OPS or e.fn in BUILTINS.values()):
        if OPS[e.fn].result == "float" and not is_float(dtype):
            dtype = "float64"  # `int_tensor * sqrt(N)`: numpy's float for an int partner
        args = tuple(retype(a, dtype) for a in e.args)
        return Call(e.fn, args, result_dtype(e.fn, tuple(a.dtype for a in args)))
    if isinstance(e, Call) and e.fn == "select":
        cond, a, b = e.args
        return Call("select", (cond, retype(a, dtype), retype(b, dtype)), dtype)
    return e


def retype_weak(typed: Typed, dtype: str) -> Expr:
    """A weak right-hand side (`O(i) = 0`, `O(i) = N`) takes the tensor's dtype."""
    e, w = typed
    if w is not None and dtype != "bool" and (w == "int" or is_float(dtype)):
        return retype(e, dtype)
    return e


def _fold(op: str, ta: Typed, tb: Typed) -> Typed | None:
    (a, wa), (b, wb) = ta, tb
    if not (wa and wb and isinstance(a, Const) and isinstance(b, Const)):
        return None
    kind = "float" if "float" in (wa, wb) else "int"
    try:
        if op in _FOLD:
            value = _FOLD[op](a.value, b.value)
        elif op == "div":
            value, kind = a.value / b.value, "float"
        elif op == "floordiv" and kind == "int":
            value = a.value // b.value
        elif op == "mod" and kind == "int":
            value = a.value % b.value
        else:
            return None
    except (ZeroDivisionError, OverflowError):
        return None
    if kind == "float":
        value = float(value)
        if not math.isfinite(value):
            return None
        return Const(value, "float64"), "float"
    return Const(int(value), INDEX), "int"


def _no_bool(op: str, args, span: Span | None) -> None:
    if any(a.dtype == "bool" for a in args):
        raise TypeError_(
            f"arithmetic '{op}' on a bool value",
            span,
            "cast the condition first, e.g. int32(a < b) or float32(a < b)",
        )
