"""stub"""
from __future__ import annotations

def find_sqdist(def_, st):
    return None

def lower_contraction(pb, k, st):
    return False

def lower_gram(pb, k, st):
    return False
