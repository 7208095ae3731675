"""opt_einsum's and numpy's einsum test expressions through `tensorc.einsum`, against numpy.einsum.

The expressions are those of opt_einsum's tests/test_contract.py (scalar-like, Hadamard, index
transformations, complex contractions, collapses, outer products, previously failing random cases,
inner products, GEMM cases, diagonals before dots, random builds, broadcasting) and numpy's
numpy/_core/tests/test_einsum.py (sums, traces, diagonals, transposes, broadcast dims, products).
Every expression runs on `interp` (the TensorIR interpreter) and on the default path with
`optimize="greedy"` (a planned path, each step compiled), in float32 and float64. The cpu backend
compiles one fused program per expression, 0.1-2 s each, so a fixed subset that covers every group
(`CPU_SUBSET`) runs there in both dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorc

# opt_einsum's default index sizes are 2..7; these stay tiny so the fused interpreter, which
# builds the whole index space, runs each expression in milliseconds.
SIZES = dict(zip("abcdefghijklm", (2, 3, 2, 3, 2, 3, 2, 2, 3, 2, 3, 2, 3)))

OPT_EINSUM = [
    # scalar-like operations
    "a,->a",
    "ab,->ab",
    ",ab,->ab",
    ",,->",
    # Hadamard-like products
    "a,ab,abc->abc",
    "a,b,ab->ab",
    # index transformations
    "ea,fb,gc,hd,abcd->efgh",
    "ea,fb,abcd,gc,hd->efgh",
    "abcd,ea,fb,gc,hd->efgh",
    # complex contractions
    "acdf,jbje,gihb,hfac,gfac,gifabc,hfac",
    "cd,bdhe,aidb,hgca,gc,hgibcd,hgac",
    "abhe,hidj,jgba,hiab,gab",
    "bde,cdh,agdb,hica,ibd,hgicd,hiac",
    "chd,bde,agbc,hiad,hgc,hgi,hiad",
    "chd,bde,agbc,hiad,bdi,cgh,agdb",
    "bdhe,acad,hiab,agac,hibd",
    # collapse
    "ab,ab,c->",
    "ab,ab,c->c",
    "ab,ab,cd,cd->",
    "ab,ab,cd,cd->ac",
    "ab,ab,cd,cd->cd",
    "ab,ab,cd,cd,ef,ef->",
    # outer products
    "ab,cd,ef->abcdef",
    "ab,cd,ef->acdf",
    "ab,cd,de->abcde",
    "ab,cd,de->be",
    "ab,bcd,cd->abcd",
    "ab,bcd,cd->abd",
    # random cases that once failed
    "eb,cb,fb->cef",
    "dd,fb,be,cdb->cef",
    "bca,cdb,dbf,afc->",
    "dcc,fce,ea,dbf->ab",
    "fdf,cdd,ccd,afe->ae",
    "abcd,ad",
    "ed,fcd,ff,bcf->be",
    "baa,dcf,af,cde->be",
    "bd,db,eac->ace",
    "fff,fae,bef,def->abd",
    "efc,dbc,acf,fd->abe",
    # inner products
    "ab,ab",
    "ab,ba",
    "abc,abc",
    "abc,bac",
    "abc,cba",
    # GEMM cases
    "ab,bc",
    "ab,cb",
    "ba,bc",
    "ba,cb",
    "abcd,cd",
    "abcd,ab",
    "abcd,cdef",
    "abcd,cdef->feba",
    "abcd,efdc",
    # inner than dot
    "aab,bc->ac",
    "ab,bcc->ac",
    "aab,bcc->ac",
    "baa,bcc->ac",
    "aab,ccb->ac",
    # randomly built
    "aab,fa,df,ecc->bde",
    "ecb,fef,bad,ed->ac",
    "bcf,bbb,fbf,fc->",
    "bb,ff,be->e",
    "bcb,bb,fc,fff->",
    "fbb,dfd,fc,fc->",
    "afd,ba,cc,dc->bf",
    "adb,bc,fa,cfc->d",
    "bbd,bda,fc,db->acf",
    "dba,ead,cad->bce",
    "aef,fbc,dca->bde",
    # test_contract.py's other lists: hadamard chains, BLAS-shaped steps, edge cases
    "ab,bc,cd->ad",
    "ab,bc,cd,de->ae",
    "abc,bcd,cde->ae",
    "ij,jk,kl,lm->im",
    "ab,ab,ab->ab",
    "abc,abc,abc->",
    "ab,bc,ca->",
    "a,a,a,a->a",
    "a,a,a,a->",
    "ab,a->b",
    "ab,b->a",
    "abc,c->ab",
    "abc,a->bc",
    "ab,bc,cd->",
    "ea,fb,gc,hd->efgh",
    "ab,cd->abcd",
]

NUMPY = [
    # sums, traces, diagonals, transposes (check_einsum_sums)
    "i->",
    "ij->",
    "ij->i",
    "ij->j",
    "ijk->k",
    "ii",
    "ii->i",
    "iii->i",
    "iij->ij",
    "iji->j",
    "ji",
    "ij->ji",
    "ijk->kji",
    "ijk->jik",
    "ab->ba",
    "i",
    "ij",
    "ijk",
    # products
    "i,i",
    "i,i->i",
    "i,i->",
    "i,j",
    "i,j->ij",
    "i,j->ji",
    "ij,ij",
    "ij,ij->ij",
    "ij,ji",
    "ij,ji->ij",
    "ij,j",
    "ij,j->i",
    "ji,j->i",
    "ij,i->j",
    "ij,jk",
    "ij,jk->ik",
    "ij,jk->ki",
    "ij,kj->ik",
    "ji,jk->ik",
    "ijk,jil->kl",
    "ijk,jil",
    "ijk,ijk",
    "ijk,ijk->ijk",
    "ijk,k->ij",
    "ijk,j->ijk",
    "ijkl,k",
    "ij,k->ijk",
    "ij,jk,kl->il",
    "ij,jk,kl",
    "i,i,i->",
    "i,i,i->i",
    "ij,ij,ij->",
    "a,b,c",
    "a,b,c->abc",
    "ab,bc,cd,de->",
    "ii,ij->j",
    "ii,ii->",
    "ij,ii->j",
    "iijj->",
    "ijji->",
    "ab,ab->",
    # scalar operands
    ",i->i",
    "i,->i",
    ",ij->ij",
    ",->",
    ",",
]

# numpy's broadcasting cases need explicit shapes (a size-1 dim broadcasts)
NUMPY_ELLIPSIS = [
    ("...,...", [(2, 3), (2, 3)]),
    ("...i->...", [(2, 3)]),
    ("i...->...", [(2, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ii...->...i", [(3, 3, 2)]),
    ("i...i->...", [(3, 2, 3)]),
    ("...ij->...ji", [(2, 2, 3)]),
    ("ij...->...ij", [(2, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 2), (3, 2, 3)]),
    ("...ij,...jk->...", [(2, 3, 2), (2, 2, 3)]),
    ("ij...,jk...->ik...", [(2, 3, 2), (3, 2, 2)]),
    ("ijk...,ijk...->ijk...", [(2, 3, 2, 2), (2, 3, 2, 1)]),
    ("ij...,j...->ij...", [(2, 3, 2), (3, 2)]),
    ("ij...,...j->ij...", [(2, 3, 2), (2, 3)]),
    ("ij...,j->ij...", [(2, 3, 2), (3,)]),
    ("...i,...i", [(2, 1, 3), (4, 3)]),
    ("i...,i...", [(2, 1, 3), (2, 4, 3)]),
    ("...,i->...i", [(2,), (3,)]),
    ("...", [(2, 3)]),
    ("ij->...ij", [(3, 2)]),
    ("ij,j->i", [(3, 2), (1,)]),
    ("ij,ij->ij", [(2, 1), (1, 3)]),
    ("ijk,ia,jb,kc->abc", [(3, 2, 2), (3, 2), (2, 3), (2, 2)]),
    ("bij,jk,bkl->bil", [(2, 3, 2), (2, 2), (2, 2, 3)]),
    ("ij,jk", [(2, 0), (0, 3)]),  # empty contraction: zeros
]

# One fused program per expression on the cpu backend: a subset covering every group above.
CPU_SUBSET = [
    "a,->a",
    ",,->",
    "a,ab,abc->abc",
    "ea,fb,abcd,gc,hd->efgh",
    "abhe,hidj,jgba,hiab,gab",
    "bdhe,acad,hiab,agac,hibd",
    "ab,ab,c->c",
    "ab,ab,cd,cd->ac",
    "ab,cd,ef->abcdef",
    "ab,bcd,cd->abd",
    "dd,fb,be,cdb->cef",
    "fdf,cdd,ccd,afe->ae",
    "baa,dcf,af,cde->be",
    "abc,bac",
    "ab,cb",
    "abcd,cdef->feba",
    "aab,bcc->ac",
    "bcf,bbb,fbf,fc->",
    "dba,ead,cad->bce",
    "ij,jk,kl,lm->im",
    "i->",
    "ii",
    "iij->ij",
    "ijk->kji",
    "ij,j->i",
    "ijk,jil->kl",
    "ii,ij->j",
    "ijji->",
    ",ij->ij",
]


def _case(expr: str) -> tuple[str, list[tuple[int, ...]]]:
    lhs = expr.split("->")[0]
    return expr, [tuple(SIZES[c] for c in term) for term in lhs.split(",")]


CASES = [_case(e) for e in OPT_EINSUM + NUMPY] + NUMPY_ELLIPSIS
IDS = [c[0] or "<empty>" for c in CASES]


def _operands(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _check(expr, shapes, dtype, **kw):
    ops = _operands(shapes, dtype)
    ref = np.einsum(expr, *(o.astype(np.float64) for o in ops))
    out = tensorc.einsum(expr, *ops, **kw)
    assert np.shape(out) == np.shape(ref), (expr, np.shape(out), np.shape(ref))
    assert np.asarray(out).dtype == np.einsum(expr, *ops).dtype
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-10}
    np.testing.assert_allclose(out, ref, **tol)


def test_suite_sizes():
    """A few hundred cases in all (opt_einsum's and numpy's lists are both here)."""
    assert len(OPT_EINSUM) >= 80 and len(NUMPY) + len(NUMPY_ELLIPSIS) >= 80
    assert len(set(OPT_EINSUM + NUMPY)) == len(OPT_EINSUM + NUMPY)  # no case twice
    assert 2 * 2 * len(CASES) >= 600


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expr, shapes", CASES, ids=IDS)
def test_interp(expr, shapes, dtype):
    _check(expr, shapes, dtype, backend="interp")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expr, shapes", CASES, ids=IDS)
def test_planned_path(expr, shapes, dtype):
    """optimize="greedy": the planner's path, each step one compiled def (interp here: the cpu
    backend's compile time for every step of every case would be minutes on 2 cores)."""
    _check(expr, shapes, dtype, optimize="greedy", backend="interp")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expr", CPU_SUBSET)
def test_cpu_subset(expr, dtype):
    if not tensorc.backends.get_backend("cpu").available():
        pytest.skip("cpu backend unavailable")
    expr, shapes = _case(expr)
    _check(expr, shapes, dtype)  # the default backend: cpu for numpy arrays
