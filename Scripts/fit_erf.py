#!/usr/bin/env python3
"""Fits the polynomial coefficients of Sources/LoupeTensor/FastErf.swift and reports their error.

erf(u) = u + u * P(u^2) for 0 <= u < 1 (P degree 6), and erfc(u) = e^(-u^2) * Q(1/u) for
1 <= u <= 9.3 (Q degree 9), each by least squares (relative error) on Chebyshev nodes against
double-precision scipy erf / erfcx. The evaluation below rounds every step to float32 as the
Swift kernel does (without FMA) and prints the max error in ulp of erf.
Usage: python3 Scripts/fit_erf.py
"""
import numpy as np
from scipy.special import erf, erfc, erfcx

f32 = np.float32


def chebyshev(lo, hi, n=6000):
    return (np.cos(np.linspace(0, np.pi, n)) + 1) / 2 * (hi - lo) + lo


def fit_small(degree=6):
    z = chebyshev(0, 1)
    x = np.sqrt(z)
    f = np.where(x > 0, erf(x) / np.where(x > 0, x, 1), 2 / np.sqrt(np.pi))
    vander = np.vander(z, degree + 1, increasing=True)
    c, *_ = np.linalg.lstsq(vander / f[:, None], (f - 1) / f, rcond=None)
    return c


def fit_tail(degree=9, top=9.5):
    t = chebyshev(1 / top, 1)
    f = erfcx(1 / t)
    vander = np.vander(t, degree + 1, increasing=True)
    c, *_ = np.linalg.lstsq(vander / f[:, None], np.ones_like(f), rcond=None)
    return c


def horner(c, v):
    p = f32(c[-1])
    for k in c[-2::-1]:
        p = (p * v + f32(k)).astype(f32)
    return p


def eval_small(c, u):
    u = u.astype(f32)
    return (u + (u * horner(c, (u * u).astype(f32))).astype(f32)).astype(f32)


def eval_tail(c, u):
    u = u.astype(f32)
    q = horner(c, (f32(1) / u).astype(f32))
    uh = (u.view(np.uint32) & np.uint32(0xFFFFF000)).view(f32)
    ul = (u - uh).astype(f32)
    hi = (uh * uh).astype(f32)
    lo = (ul * (u + uh).astype(f32)).astype(f32)
    e = np.exp(-hi.astype(np.float64)).astype(f32)
    corr = (f32(1) + lo * (f32(-1) + lo * (f32(0.5) + lo * (f32(-1 / 6) + lo * f32(1 / 24))))).astype(f32)
    return ((e * corr).astype(f32) * q).astype(f32)


def ulps(actual, exact):
    return np.abs(actual.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(f32)).astype(np.float64)


small, tail = fit_small(), fit_tail()
u = np.linspace(1e-6, 1, 200001).astype(f32)
print("small P (low to high):", [repr(float(f32(v))) for v in small])
print("  max erf error %.3f ulp" % ulps(eval_small(small, u), erf(u.astype(np.float64))).max())
u = np.linspace(1, 9.3, 800001).astype(f32)
r = eval_tail(tail, u)
print("tail Q (low to high):", [repr(float(f32(v))) for v in tail])
print("  max erf error %.3f ulp, max erfc relative error %.2e" % (
    ulps((1 - r.astype(np.float64)).astype(f32), erf(u.astype(np.float64))).max(),
    (np.abs(r - erfc(u.astype(np.float64))) / erfc(u.astype(np.float64))).max()))
