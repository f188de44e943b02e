"""Claimed and reproduced environments: when bit-identical numbers were to be expected, and why."""

from __future__ import annotations

from viprepro.jobs.provenance import compare_environments, environment

HERE = {
    "device_type": "cpu",
    "cpu_model": "AMD EPYC",
    "cpu_capability": "AVX2",
    "gpu": None,
    "torch": "2.14.1+cu130",
    "cuda": None,
    "cudnn": None,
}


def test_every_job_records_cpu_capability_and_gpu():
    recorded = environment()
    assert recorded["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NO AVX", "SVE256")
    assert "gpu" in recorded and recorded["device_type"] in ("cpu", "cuda") and recorded["cpu_model"]


def test_same_hardware_and_build_expects_bit_identical_numbers():
    claimed = {**HERE, "determinism": "strict"}
    result = compare_environments(claimed, HERE, determinism="strict")
    assert result["bit_identical_expected"] is True and result["sentence"].startswith(
        "Bit-identical equality with the claim's own runs was to be expected"
    )


def test_another_cpu_vendor_does_not():
    claimed = {**HERE, "cpu_model": "Intel(R) Xeon(R) Platinum 8375C", "cpu_capability": "AVX512", "determinism": "strict"}
    result = compare_environments(claimed, HERE, determinism="strict")
    assert result["bit_identical_expected"] is False
    assert "CPU capability (torch kernel dispatch) (AVX512 claimed, AVX2 here)" in result["sentence"]
    assert result["claimed"]["cpu_model"].startswith("Intel") and result["reproduced"]["cpu_model"] == "AMD EPYC"


def test_a_claim_without_an_environment_promises_nothing():
    assert compare_environments(None, HERE, determinism="strict")["bit_identical_expected"] is None
    partial = compare_environments({"torch": "2.14.1+cu130"}, HERE, determinism="strict")
    assert partial["bit_identical_expected"] is None and "does not state" in partial["sentence"]


def test_relaxed_determinism_promises_nothing():
    claimed = {**HERE, "determinism": "warn"}
    assert compare_environments(claimed, HERE, determinism="warn")["bit_identical_expected"] is False


def test_how_the_claim_was_measured_reaches_the_verdict():
    """`environment.measured` is free text for the reports: the verdict carries it to the certificate."""
    claimed = {"torch": "2.14.1+cu130", "measured": "mean of 5 seeds on two CPU kernel sets"}
    assert compare_environments(claimed, HERE, determinism="strict")["measured"] == claimed["measured"]
