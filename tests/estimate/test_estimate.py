"""`viprepro estimate`: the extrapolation is exact given the timings; the command runs in seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from viprepro.cli import main
from viprepro.specs.load import load_spec
from viprepro.training import estimate
from viprepro.training.estimate import Timing, Workload, cost, workload

REPO = Path(__file__).resolve().parents[2]
WORK = Workload(epochs=10, batch=4, train=10, val=6, test=5, test_views=2, members=3, seeds=2)


def test_cost_is_exact_given_the_timings():
    train = Timing({1: [1.0, 1.0], 2: [1.5, 1.5]})  # 0.5 s fixed + 0.5 s per sample: 2.5 s at batch 4
    infer = Timing({1: [0.2, 0.2], 2: [0.3, 0.3]})  # 0.1 + 0.1 per sample: 0.5 s at batch 4
    result = cost(WORK, train, infer)
    member = 10 * (math.ceil(10 / 4) * 2.5 + math.ceil(6 / 4) * 0.5)  # 85
    inference = 3 * math.ceil(5 * 2 / 4) * 0.5  # 4.5
    assert result.member == pytest.approx((member,) * 3)
    assert result.inference == pytest.approx((inference,) * 3)
    assert result.seed == pytest.approx((3 * member + inference,) * 3)
    assert result.total == pytest.approx((2 * (3 * member + inference),) * 3)
    assert result.wall(WORK, 1)[0] == pytest.approx(6 * member + 2 * inference)  # every job in a row
    assert result.wall(WORK, 4)[0] == pytest.approx(2 * member + 1 * inference)  # 6 jobs on 4 devices: two rounds


def test_device_factor_and_pixel_scale_enter_where_they_should():
    train = Timing({1: [1.0], 2: [1.5]})
    infer = Timing({1: [0.2], 2: [0.3]})
    base = cost(WORK, train, infer)
    assert cost(WORK, train, infer, device_factor=10).total[0] == pytest.approx(base.total[0] / 10)
    scaled = cost(WORK, train, infer, train_scale=2.0)  # only the per-sample part of a training step doubles
    assert scaled.member[0] == pytest.approx(10 * (3 * (0.5 + 0.5 * 2 * 4) + 2 * 0.5))


def test_the_spread_of_iterations_brackets_the_estimate():
    train = Timing({1: [0.9, 1.0, 1.3], 2: [1.4, 1.5, 2.0]})
    infer = Timing({1: [0.2, 0.2, 0.25], 2: [0.3, 0.3, 0.4]})
    mid, low, high = cost(WORK, train, infer).total
    assert low < mid < high
    assert low == pytest.approx(cost(WORK, Timing({1: [0.9], 2: [1.4]}), Timing({1: [0.2], 2: [0.3]})).total[0])


def test_workload_follows_the_spec():
    effnet = workload(load_spec(REPO / "config/submissions/top2020/top2020_cls3_kim_effnet_b4.yaml"))
    assert (effnet.train, effnet.val, effnet.test, effnet.epochs, effnet.batch) == (50_000, 50_000, 50_000, 450, 16)
    act = workload(load_spec(REPO / "config/submissions/top2020/top2020_act2_chen_cdc_proxy.yaml"))
    assert (act.train, act.val, act.test_views) == (4_795 + 4_742, 0, 10)  # trains on train+val: no validation pass
    seg = workload(load_spec(REPO / "config/submissions/top2020/top2020_seg4_yesilkaynak_efficientseg.yaml"))
    assert seg.test_views == 2  # flip TTA


def test_the_command_prints_a_cost_table_and_says_when_the_gpu_is_simulated(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(estimate, "PROBE_PIXELS", 1024)
    out = tmp_path / "estimate.json"
    spec = REPO / "config/submissions/classification_resnet_small.yaml"
    assert main(["estimate", str(spec), "--device", "cuda", "--device-factor", "25", "--iterations", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no GPU is present: CPU timings divided by a device factor of 25" in text or "on cuda" in text
    for row in ("per member (train + val)", "per seed (1 member(s))", "total (5 seed(s))", "peak memory per job"):
        assert row in text
    record = json.loads(out.read_text())[0]
    assert (
        record["workload"]["seeds"] == 5 and record["seconds"]["total"][1] <= record["seconds"]["total"][0] <= record["seconds"]["total"][2]
    )


def test_a_bad_spec_is_one_line_and_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: classification\nmodle: {}\n")
    assert main(["estimate", str(bad)]) == 1
    assert capsys.readouterr().err.startswith("viprepro estimate: error:")


def test_on_a_cpu_a_step_costs_the_same_per_sample():
    timing = Timing({1: [2.0, 4.0], 2: [3.0, 10.0]}, proportional=True)  # per sample: 2, 4, 1.5, 5
    assert timing.at(16) == pytest.approx(16 * 3.0)  # median of the per-sample times
    assert timing.at(16, min) == pytest.approx(16 * 1.5) and timing.at(16, max, scale=2) == pytest.approx(16 * 5 * 2)


def test_memory_from_one_probe_keeps_the_weights_fixed():
    timing = Timing({2: [1.0]}, peak_mb={2: 500.0}, proportional=True)
    assert timing.memory_at(16, fixed_mb=300.0) == pytest.approx(300 + 200 / 2 * 16)
    assert timing.memory_at(16, scale=2.0, fixed_mb=300.0) == pytest.approx(300 + 200 / 2 * 16 * 2)


def test_several_specs_are_estimated_one_process_each(tmp_path, capfd):
    out = tmp_path / "estimates.json"
    spec = str(REPO / "config/submissions/classification_resnet_small.yaml")
    assert main(["estimate", spec, spec, "--device", "cpu", "--iterations", "1", "--json", str(out)]) == 0
    assert [r["spec"] for r in json.loads(out.read_text())] == ["classification_resnet_small"] * 2
    assert capfd.readouterr().out.count("viprepro estimate: classification_resnet_small") == 2
