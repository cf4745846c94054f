"""The choice a free worker makes among the first pending jobs (impasto.server.scheduling)."""

from __future__ import annotations

from impasto.server.scheduling import LOOK_AHEAD, MAX_SKIPS, pick

X, Y = frozenset({"x"}), frozenset({"y"})
NONE: frozenset[str] = frozenset()


def test_the_first_job_is_taken_when_it_fits_here_or_nowhere_better():
    assert pick([X, Y], mine=X, others=Y, head_skips=0) == 0  # it fits here
    assert pick([Y, X], mine=NONE, others=NONE, head_skips=0) == 0  # nobody holds y
    assert pick([NONE, X], mine=X, others=Y, head_skips=0) == 0  # it needs nothing heavy
    assert pick([], mine=X, others=Y, head_skips=0) == 0


def test_a_job_another_worker_holds_the_model_for_is_left_to_it():
    assert pick([Y, NONE, X], mine=X, others=Y, head_skips=0) == 2
    assert pick([Y, Y], mine=X, others=Y, head_skips=0) == 0  # nothing later fits here either


def test_the_look_is_bounded_and_a_passed_over_job_is_not_starved():
    far = [Y] * LOOK_AHEAD + [X]
    assert pick(far, mine=X, others=Y, head_skips=0) == 0
    assert pick([Y, X], mine=X, others=Y, head_skips=MAX_SKIPS) == 0
