"""The spin budget (core.spin), in memory: a burst to start with, refilled at a share of the time, never above it."""
import pytest

from pcapng_iou.core.spin import SPIN_BURST_S, SPIN_SHARE, SpinBudget


def test_a_capture_starts_with_the_whole_burst_and_spends_it():
    budget = SpinBudget(now=100.0, share=0.0, burst_s=0.25)
    assert budget.left == 0.25
    assert budget.settle(100.5, 0.1) == pytest.approx(0.15)
    assert budget.settle(101.0, 0.2) == pytest.approx(-0.05)  # the last window is charged whole
    assert budget.settle(200.0, 0.0) == pytest.approx(-0.05)  # with no share, spent is spent
    assert budget.spent == pytest.approx(0.3)


def test_time_refills_the_budget_at_its_share_up_to_the_burst():
    budget = SpinBudget(now=0.0, share=0.1, burst_s=0.25)
    assert budget.settle(1.0, 0.25) == pytest.approx(0.1)  # 0.25 - 0.25 + 1 s x 10 %
    assert budget.settle(2.0, 0.2) == pytest.approx(0.0)
    assert budget.settle(12.0, 0.0) == pytest.approx(0.25)  # 10 s would give 1 s: the burst is the ceiling
    assert budget.settle(12.0, 0.0) == pytest.approx(0.25)


def test_spinning_all_the_time_is_held_to_the_share():
    """A lab whose every window finds nothing: over a minute, the loop spins about the share of it."""
    budget = SpinBudget(now=0.0, share=0.1, burst_s=0.25)
    window, now, spun = 200e-6, 0.0, 0.0
    spent = 0.0
    for second in range(1, 61):
        left = budget.left
        while spun < left:  # the loop arms a window only while what it spun since settling is below what is left
            spun += window
            now += window
        spent += spun
        now = float(second)
        budget.settle(now, spun)
        spun = 0.0
    assert spent == pytest.approx(budget.spent)
    # The burst, then a tenth of each second (the last second's tenth is left for the next).
    assert 0.25 + 59 * 0.1 - 0.001 < spent < 0.25 + 59 * 0.1 + 60 * window


def test_defaults_and_bad_settings():
    budget = SpinBudget(now=0.0)
    assert (budget.share, budget.burst_s, budget.left) == (SPIN_SHARE, SPIN_BURST_S, SPIN_BURST_S)
    for share, burst in ((-0.1, 1.0), (1.5, 1.0), (0.1, -1.0)):
        with pytest.raises(ValueError, match="spin budget"):
            SpinBudget(0.0, share, burst)
