"""Checking: syntax tree -> TensorIR `Program` in canonical form (see tensorc/ir/tensor_ir.py).

Per def: resolve the signature (dtypes, size symbols, outputs), then check the statements in source
order (`statements.py` does one statement). Errors carry spans and hints; several errors of one file
are raised together as an `ErrorGroup`.
"""

from __future__ import annotations

import dataclasses

import sympy

from tensorc.errors import (
    ErrorGroup,
    NameError_,
    ShapeError,
    StatementError,
    TensorcError,
    TypeError_,
)
from tensorc.frontend import syntax as S
from tensorc.frontend.exprs import Env
from tensorc.frontend.names import DTYPE_NAMES, did_you_mean
from tensorc.frontend.ranges import bound_to_sympy
from tensorc.frontend.statements import check_statement
from tensorc.ir.tensor_ir import Def, Program, TensorDecl, size_symbol
from tensorc.ir.types import is_int


def check_module(module: S.Module) -> Program:
    errors: list[TensorcError] = []
    defs = []
    names: dict[str, S.DefNode] = {}
    for dn in module.defs:
        if dn.name.id in names:
            errors.append(
                NameError_(
                    f"def '{dn.name.id}' is defined twice",
                    dn.name.span,
                    f"first defined at line {names[dn.name.id].name.span.line}",
                )
            )
            continue
        names[dn.name.id] = dn
        try:
            defs.append(check_def(dn))
        except ErrorGroup as g:
            errors.extend(g.errors)
        except TensorcError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorGroup(errors)
    return Program(tuple(defs), module.file)


def _dtype(p: S.Param) -> str:
    spelled = p.dtype.id
    if spelled not in DTYPE_NAMES:
        raise TypeError_(
            f"unknown dtype '{spelled}'",
            p.dtype.span,
            did_you_mean(spelled, DTYPE_NAMES) or "dtypes: " + ", ".join(sorted(DTYPE_NAMES)),
        )
    return DTYPE_NAMES[spelled]


def check_def(dn: S.DefNode) -> Def:
    errors: list[TensorcError] = []
    seen: dict[str, S.Param] = {}
    inputs: list[TensorDecl] = []
    sizes: set[str] = set()
    for p in dn.params:
        if p.name.id in seen:
            errors.append(
                NameError_(
                    f"duplicate parameter name '{p.name.id}'",
                    p.name.span,
                    "every parameter and output needs its own name",
                )
            )
            continue
        seen[p.name.id] = p
        try:
            dtype = _dtype(p)
        except TensorcError as e:
            errors.append(e)
            continue
        shape = []
        for d in p.dims or ():
            if isinstance(d, S.Name):
                sizes.add(d.id)
                shape.append(size_symbol(d.id))
            elif isinstance(d, S.Num) and not d.is_float:
                shape.append(sympy.Integer(int(d.text)))
            else:
                errors.append(
                    ShapeError(
                        "input dimensions must be size names or integer literals",
                        d.span,
                        "bind a new size name here, e.g. float(N) A",
                    )
                )
        if p.dims is None and is_int(dtype):
            sizes.add(p.name.id)  # integer scalars may appear in bounds
        inputs.append(TensorDecl(p.name.id, dtype, tuple(shape), "input", p.span))
    input_names = {d.name for d in inputs}
    declared: dict[str, TensorDecl] = {}
    out_params: list[S.Param] = []
    for p in dn.outputs:
        if p.name.id in seen:
            errors.append(
                NameError_(
                    f"duplicate parameter name '{p.name.id}'",
                    p.name.span,
                    "outputs need names different from inputs and each other",
                )
            )
            continue
        seen[p.name.id] = p
        out_params.append(p)
        if p.dtype is None:
            continue
        try:
            dtype = _dtype(p)
            shape = tuple(bound_to_sympy(d, sizes, "an output dimension") for d in p.dims or ())
        except TensorcError as e:
            errors.append(e)
            continue
        declared[p.name.id] = TensorDecl(p.name.id, dtype, shape, "output", p.span)
    if errors:
        raise ErrorGroup(errors) if len(errors) > 1 else errors[0]

    body_first: dict[str, object] = {}
    for st in dn.stmts:
        body_first.setdefault(st.tensor.id, st.span)
    decls: dict[str, TensorDecl] = {d.name: d for d in inputs}
    decls.update(declared)
    env = Env(decls, sizes, body_first)
    for p in out_params:
        env.names.add(p.name.id)
    outputs = {p.name.id for p in out_params}
    temps: list[str] = []
    body = []
    for st in dn.stmts:
        name = st.tensor.id
        if name in input_names:
            errors.append(
                StatementError(
                    f"input '{name}' cannot be assigned",
                    st.tensor.span,
                    "write into an output or a temporary",
                )
            )
            continue
        try:
            try:
                stmt, decl = check_statement(st, env, outputs)
            except RecursionError:
                raise StatementError(
                    "expression nested too deeply to check",
                    st.span,
                    "split it into several statements with temporaries",
                ) from None
        except TensorcError as e:
            errors.append(e)
            if name not in env.decls:
                break  # later statements would only repeat the error
            env.defined.add(name)
            continue
        if name not in env.decls:
            role = "output" if name in outputs else "temp"
            decl = TensorDecl(
                name, decl.dtype, decl.shape, role, st.span if role == "temp" else seen[name].span
            )
            env.decls[name] = decl
            if role == "temp":
                temps.append(name)
        env.defined.add(name)
        env.ranges.setdefault(name, tuple((r.lo, r.hi) for r in stmt.domain))
        if stmt.mask is not None and name not in env.masks:
            # readers carry the mask from here on (frontend/masks.py); a temp itself need not (an
            # output keeps it: the caller sees the identity outside)
            env.masks[name] = (stmt.indices, stmt.mask)
            if env.decls[name].role == "temp":
                stmt = dataclasses.replace(stmt, mask=None)
        body.append(stmt)
    if not errors:
        for p in out_params:
            if p.name.id not in env.defined:
                errors.append(
                    StatementError(
                        f"output '{p.name.id}' is never written",
                        p.name.span,
                        f"add a statement `{p.name.id}(...) = ...`",
                    )
                )
    if errors:
        raise ErrorGroup(errors) if len(errors) > 1 else errors[0]
    return Def(
        dn.name.id,
        tuple(inputs),
        tuple(env.decls[p.name.id] for p in out_params),
        tuple(env.decls[t] for t in temps),
        tuple(body),
        dn.span,
    )
