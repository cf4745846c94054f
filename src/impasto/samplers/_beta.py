"""The beta distribution's CDF and its inverse, in float64, for the "beta" schedule without scipy.

The regularised incomplete beta function I_x(a, b) is evaluated by its continued fraction with the modified
Lentz algorithm (Press et al., "Numerical Recipes", 3rd ed., section 6.4); the inverse by bisection to
machine precision, which is plenty for a handful of schedule points.
"""

from __future__ import annotations

import math

_TINY = 1e-300


def _clamp(value: float) -> float:
    return _TINY if abs(value) < _TINY else value


def _continued_fraction(a: float, b: float, x: float) -> float:
    c, d = 1.0, 1.0 / _clamp(1.0 - (a + b) * x / (a + 1.0))
    result = d
    for m in range(1, 500):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 / _clamp(1.0 + even * d)
        c = _clamp(1.0 + even / c)
        result *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 / _clamp(1.0 + odd * d)
        c = _clamp(1.0 + odd / c)
        step = d * c
        result *= step
        if abs(step - 1.0) < 1e-16:
            break
    return result


def beta_cdf(x: float, a: float, b: float) -> float:
    """P(X <= x) for X ~ Beta(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The continued fraction converges fast below the mean; use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) above it.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """The x with beta_cdf(x, a, b) == q, for q in [0, 1]."""
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    if a == b and q >= 0.5:
        # Symmetric: exact at the median (the beta schedule rounds 499.5 there), mirrored above it.
        return 0.5 if q == 0.5 else 1.0 - beta_ppf(1.0 - q, a, b)
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2
