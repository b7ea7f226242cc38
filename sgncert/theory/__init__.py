"""Theory: the mathematics of the SGN certificate on plain arrays and rationals.

Small-gain margin and Perron weights, timescale bands, Euler / RK4 step sizes and the
RK4 constant, exact step thresholds of a constant Jacobian, contraction of one-step maps
and the exact (rational) checks that prove these claims. Nothing here knows about game
specs (:mod:`sgncert.games`) or sampling (:mod:`sgncert.analysis`); every statement is
derived in docs/theory.md.
"""
