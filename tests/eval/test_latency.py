"""Latency statistics, workloads and the interleaved measurement loop."""

import numpy as np
import pytest

from eval import latency


class FakeClock:
    """The harness's clock, advanced only by the runners and the pauses: timing tests that a busy machine cannot
    slow down or speed up."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(latency, "clock", fake)
    monkeypatch.setattr(latency, "pause", fake.pause)
    return fake


class FakeRunner:
    """Takes a fixed time per batch on the fake clock and records the order in which it was called."""

    def __init__(self, name, seconds, log, clock):
        self.name, self.seconds, self.log, self.clock = name, seconds, log, clock

    def prepare(self, batch):
        return batch

    def run(self, prepared):
        self.log.append(self.name)
        self.clock.now += self.seconds


def rows(lengths):
    return [{"input_ids": list(range(1, n + 1)), "attention_mask": [1] * n} for n in lengths]


def test_percentile_summary_matches_numpy_in_milliseconds():
    values = [0.001 * i for i in range(1, 101)]
    out = latency.percentile_summary(values)
    assert out["p50_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert out["p90_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 90))
    assert out["p99_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert out["min_ms"] == pytest.approx(1.0)


def test_ratios_are_baseline_over_variant_for_latency_and_inverse_for_throughput():
    base = {"p50_ms": 30.0, "seq_per_s": 100.0}
    fast = {"p50_ms": 10.0, "seq_per_s": 250.0}
    r = latency.ratios(base, fast)
    assert r["speedup_p50"] == pytest.approx(3.0)
    assert r["throughput_ratio"] == pytest.approx(2.5)


def test_fixed_shape_pads_and_truncates_to_exact_length_with_mask():
    w = latency.fixed_shape(rows([3, 10]), batch_size=3, length=5, pad_id=0)
    batch = w.batches[0]
    assert batch["input_ids"].shape == (3, 5)
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1, 1]
    assert batch["input_ids"][2].tolist() == batch["input_ids"][0].tolist()  # rows cycle when the batch is larger
    assert w.sequences == 3


def test_real_lengths_pads_each_batch_to_its_longest_row_and_bucketing_sorts():
    w = latency.real_lengths(rows([5, 2, 9, 3]), batch_size=2, pad_id=0)
    assert [b["input_ids"].shape for b in w.batches] == [(2, 5), (2, 9)]
    bucketed = latency.real_lengths(rows([5, 2, 9, 3]), batch_size=2, pad_id=0, bucket=True)
    assert [b["input_ids"].shape for b in bucketed.batches] == [(2, 3), (2, 9)]
    assert w.sequences == bucketed.sequences == 4


def test_measure_interleaves_variants_and_reports_the_faster_one_faster(clock):
    log = []
    slow, fast = FakeRunner("slow", 0.004, log, clock), FakeRunner("fast", 0.001, log, clock)
    work = latency.fixed_shape(rows([4]), 1, 4, 0)
    settings = latency.LatencySettings(warmup=1, min_runs=4, max_runs=8, budget_s=0.05)
    out = latency.measure_pairs([(slow, work), (fast, work)], settings, progress=False)
    assert out[0]["runs"] >= 4 and out[1]["runs"] >= 4
    assert out[0]["p50_ms"] == pytest.approx(4.0) and out[1]["p50_ms"] == pytest.approx(1.0)
    timed = log[2:]  # after one warm-up call each
    first_switch = timed.index("fast")
    assert "slow" in timed[first_switch:], "variants must alternate in rounds, not run one after the other"


def test_measure_stops_at_max_runs(clock):
    runner = FakeRunner("a", 0.001, [], clock)
    out = latency.measure_pairs([(runner, latency.fixed_shape(rows([2]), 1, 2, 0))],
                                latency.LatencySettings(warmup=0, min_runs=5, max_runs=20, budget_s=100,
                                                        stable_tolerance=-1), progress=False)
    assert 20 <= out[0]["runs"] < 30


def test_median_interval_brackets_the_median_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 1, 30), rng.normal(10, 1, 3000)
    for values in (few, many):
        low, high = latency.median_interval(values)
        assert low <= np.median(values) <= high
    assert np.subtract(*latency.median_interval(many))[()] > np.subtract(*latency.median_interval(few))[()]
    assert latency.median_interval([5.0]) == (5.0, 5.0)


def test_measure_runs_on_while_a_noisy_median_is_uncertain_and_stops_when_a_steady_one_is_known(clock):
    work = latency.fixed_shape(rows([2]), 1, 2, 0)
    settings = latency.LatencySettings(warmup=0, min_runs=10, max_runs=300, budget_s=100, stable_tolerance=0.05)
    steady = latency.measure_pairs([(FakeRunner("a", 0.002, [], clock), work)], settings, progress=False)

    class Bimodal(FakeRunner):
        """Fast and slow passes in turn: the median sits between two modes and is never pinned down."""

        def run(self, prepared):
            self.log.append(None)
            self.clock.now += 0.0005 if len(self.log) % 2 else 0.004

    noisy = latency.measure_pairs([(Bimodal("n", 0, [], clock), work)], settings, progress=False)
    assert steady[0]["runs"] < 60 and noisy[0]["runs"] == 300
    low, high = noisy[0]["p50_interval_ms"]
    assert low <= noisy[0]["p50_ms"] <= high


def test_measure_keeps_timing_until_every_variant_has_its_minimum_seconds(clock):
    work = latency.fixed_shape(rows([2]), 1, 2, 0)
    quick, slow = FakeRunner("quick", 0.001, [], clock), FakeRunner("slow", 0.002, [], clock)
    # A stable median after 5 runs and a spent budget would stop at once without min_s.
    settings = latency.LatencySettings(warmup=0, min_runs=5, max_runs=1000, budget_s=0, stable_tolerance=1.0,
                                       min_s=0.15)
    out = latency.measure_pairs([(quick, work), (slow, work)], settings, progress=False)
    assert all(o["runs"] * o["run_p50_ms"] / 1e3 >= 0.15 - 1e-9 for o in out)
    assert out[0]["runs"] >= 150, "rounds are shared, so the quicker variant sets the stop"


def test_settle_pause_follows_each_turn_and_is_not_timed(clock):
    calls = []

    class Timed(FakeRunner):
        def run(self, prepared):
            calls.append(self.clock())
            super().run(prepared)

    a, b = Timed("a", 0.001, [], clock), Timed("b", 0.001, [], clock)
    work = latency.fixed_shape(rows([2]), 1, 2, 0)
    settings = latency.LatencySettings(warmup=0, min_runs=5, max_runs=5, budget_s=0, settle_s=0.03)
    out = latency.measure_pairs([(a, work), (b, work)], settings, progress=False)
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:])]
    assert sum(g >= 0.03 for g in gaps) >= 4, "a pause separates every turn from the next"
    assert all(o["p50_ms"] == pytest.approx(1.0) for o in out), "the pause is outside the timed region"


def test_a_turn_goes_on_for_its_minimum_time_before_the_next_variant_runs(clock):
    log = []
    a, b = FakeRunner("a", 0.002, log, clock), FakeRunner("b", 0.002, log, clock)
    work = latency.fixed_shape(rows([2]), 1, 2, 0)
    settings = latency.LatencySettings(warmup=0, min_runs=5, max_runs=5, budget_s=0, min_turn_s=0.05)
    latency.measure_pairs([(a, work), (b, work)], settings, progress=False)
    timed = log[2:]  # after one warm-up call each
    first_turn = timed[:timed.index("b")]
    assert len(first_turn) >= 0.05 / 0.002, "a turn holds many passes, not min_runs // 5 = 1"
    assert timed.count("a") == len(first_turn), "one turn reached max_runs for both"


def test_garbage_collection_is_off_while_timing_and_restored_after(clock):
    import gc

    seen = []

    class Probe(FakeRunner):
        def run(self, prepared):
            seen.append(gc.isenabled())
            super().run(prepared)

    work = latency.fixed_shape(rows([2]), 1, 2, 0)
    latency.measure_pairs([(Probe("a", 0.001, [], clock), work)],
                          latency.LatencySettings(warmup=0, min_runs=3, max_runs=3), progress=False)
    assert seen and not any(seen)
    assert gc.isenabled()
