"""Triton backend: LoopIR -> Triton source (`render`), cached module (`build`), launcher (`load`).

Import `tensorc.backends.triton.backend.BACKEND`; nothing touches a GPU at import time.
"""
