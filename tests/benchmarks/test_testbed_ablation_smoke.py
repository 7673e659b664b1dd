"""The testbed ablation's smoke mode runs RL arms (through `train()` and its on_step hook),
the SIRLC arms (from the judge warm start, benchmarks/testbed_judge.py; the policy as its own
judge, and a frozen judge) and an SFT arm end to end, writes one JSON per run, and the claims
table reads them. Structure only, not numbers: the smoke testbed trains for seconds. (~55 s)"""

import json

import pytest


@pytest.mark.slow
def test_quick_mode_writes_per_seed_json_and_a_claims_table(tmp_path, run_benchmark):
    out = tmp_path / "results"
    run_benchmark("testbed_ablation.py", "--quick", "--seeds", "0", "--steps", "2",
                  "--sft-steps", "3", "--eval-every", "1", "--arms", "GRPO", "RLPT K=8",
                  "SFT EDCO", "judge-ws SIRLC", "judge-ws SIRLC frozen", "--out", str(out),
                  timeout=600)
    runs = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(runs) == ["GRPO_s0.json", "RLPT K=8_s0.json", "SFT EDCO_s0.json",
                            "judge-ws SIRLC frozen_s0.json", "judge-ws SIRLC_s0.json"]
    grpo = runs["GRPO_s0.json"]
    assert [r["step"] for r in grpo["records"]] == [0, 1, 2]  # start eval, then each step
    assert all("eval/pass@1" in r for r in grpo["records"])  # --eval-every 1
    assert [r["samples"] for r in grpo["records"]] == [0, 16, 32]
    for key in ("final_pass1", "samples_nonzero_adv", "steps_to_target", "entropy_late"):
        assert key in grpo["final"]
    assert runs["RLPT K=8_s0.json"]["final"]["start_pass1"] == grpo["final"]["start_pass1"]
    sirlc = runs["judge-ws SIRLC_s0.json"]["records"]
    assert all(0.0 <= r["reward_mean"] <= 1.0 and "reward/self_eval" in r for r in sirlc[1:])
    assert all(r["reward/accuracy_monitor"] == r["accuracy"] for r in sirlc[1:])  # monitor
    # Same seed and start: step 1's samples and judge are the same in both arms, and so is
    # the update; at step 2 the samples are the same, but only the frozen judge is unchanged.
    frozen = runs["judge-ws SIRLC frozen_s0.json"]["records"]
    assert frozen[1]["reward_mean"] == pytest.approx(sirlc[1]["reward_mean"], abs=1e-7)
    assert frozen[2]["accuracy"] == sirlc[2]["accuracy"]
    assert frozen[2]["reward_mean"] != sirlc[2]["reward_mean"]
    sft = runs["SFT EDCO_s0.json"]["final"]
    assert sft["heldout_nll"] > 0 and sft["sft_seconds"] > 0
    table = run_benchmark("claims_table.py", str(out), "--baseline", "GRPO", "--arm",
                          "RLPT K=8", "--claim", "final_pass1:higher")
    assert table[0] == "RLPT K=8 vs GRPO: 1 paired seeds [0]"
    assert table[-1].startswith("| RLPT K=8 final_pass1 higher |")
    assert table[-1].endswith("| inconclusive |")  # one seed: no interval
