"""Registry and promotion gate against a real (sqlite) MLflow store."""

import numpy as np
import torch

from chromastyle.config import RegisterConfig
from chromastyle.model.integrated import Chromastyle, ModelConfig

GOOD = {"delta_cf": 5.0, "frechet_offline": 1.0, "frechet_effnet_lite0": 40.0, "colourfulness": 30.0}
WORSE = {"delta_cf": 20.0, "frechet_offline": 1.5, "frechet_effnet_lite0": 60.0, "colourfulness": 10.0}


def test_gate_rules():
    from chromastyle.registry import decide_promotion

    cfg = RegisterConfig(frechet_margin=0.05, min_delta_cf_gain=0.0)
    promote, reason = decide_promotion({"model": GOOD}, cfg)
    assert promote and reason.startswith("first version")
    promote, reason = decide_promotion({"model": WORSE, "champion": GOOD}, cfg)
    assert not promote and reason.startswith("kept champion")
    promote, reason = decide_promotion({"model": GOOD, "champion": WORSE}, cfg)
    assert promote and reason.startswith("beats champion")
    # Better ΔCF but Fréchet 10 % worse: outside the 5 % tolerance.
    slightly = {"delta_cf": 4.0, "frechet_offline": 0.5, "frechet_effnet_lite0": 44.0}
    assert not decide_promotion({"model": slightly, "champion": GOOD}, cfg)[0]
    # Better by less than the margin (run-to-run noise) keeps the champion; by more, replaces it.
    within_noise = {**GOOD, "frechet_effnet_lite0": 39.0}
    assert not decide_promotion({"model": within_noise, "champion": GOOD}, cfg)[0]
    assert decide_promotion({"model": {**GOOD, "frechet_effnet_lite0": 37.0}, "champion": GOOD}, cfg)[0]


def test_gate_promotes_on_the_learned_frechet_distance_and_on_fid_when_both_have_it():
    from chromastyle.registry import decide_promotion

    cfg = RegisterConfig(frechet_margin=0.0, min_delta_cf_gain=-5.0)
    # Worse on the offline distance, better on the learned one: the learned one decides.
    learned_better = {**GOOD, "frechet_offline": 2.0, "frechet_effnet_lite0": 39.0, "delta_cf": 8.0}
    promote, reason = decide_promotion({"model": learned_better, "champion": GOOD}, cfg)
    assert promote and "frechet_effnet_lite0 39.0000" in reason
    # ΔCF more than 5 points worse is refused even with a better Fréchet distance.
    assert not decide_promotion({"model": {**learned_better, "delta_cf": 10.5}, "champion": GOOD}, cfg)[0]
    # FID, when both were measured with the user's Inception weights, outranks the learned distance.
    with_fid = decide_promotion({"model": {**learned_better, "fid": 30.0}, "champion": {**GOOD, "fid": 20.0}}, cfg)
    assert not with_fid[0] and "fid 30.0000" in with_fid[1]
    # A champion measured before the learned distance existed: the offline one is what both have.
    old = {k: v for k, v in GOOD.items() if k != "frechet_effnet_lite0"}
    assert "frechet_offline" in decide_promotion({"model": learned_better, "champion": old}, cfg)[1]


def _saved_model(tmp_path, name, seed):
    torch.manual_seed(seed)
    model = Chromastyle(ModelConfig(base_channels=8, work_side=32))
    model.save(tmp_path / name)
    return tmp_path / name


def test_good_then_worse_model_keeps_the_first_as_champion(mlflow_store, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from chromastyle import registry

    cfg = RegisterConfig()
    mlflow.set_experiment(experiment_id=registry.ensure_experiment())
    run_a = mlflow.start_run().info.run_id
    mlflow.end_run()
    first = registry.register(_saved_model(tmp_path, "a", 1), run_a, {"model": GOOD}, {"git_commit": "abc"}, cfg)
    assert first.promoted and first.version == "1"

    run_b = mlflow.start_run().info.run_id
    mlflow.end_run()
    second = registry.register(_saved_model(tmp_path, "b", 2), run_b, {"model": WORSE, "champion": GOOD}, {}, cfg)
    assert not second.promoted and second.version == "2"

    client = MlflowClient()
    assert str(client.get_model_version_by_alias("chromastyle", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("chromastyle", "challenger").version) == "2"
    rejected = client.get_model_version("chromastyle", "2").tags
    assert rejected["validation_status"] == "rejected"
    assert rejected["promotion_reason"].startswith("kept champion")
    assert client.get_model_version("chromastyle", "1").tags["git_commit"] == "abc"

    # Re-running the stage for the same run is idempotent: no third version.
    again = registry.register(_saved_model(tmp_path, "b", 2), run_b, {"model": WORSE, "champion": GOOD}, {}, cfg)
    assert again.version == "2" and len(client.search_model_versions("name='chromastyle'")) == 2

    # The champion loads back as the same weights, and as a pyfunc that colourises arrays.
    folder = registry.download_champion("chromastyle", tmp_path / "dl")
    lightness = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        assert torch.equal(Chromastyle.load(folder)(lightness), Chromastyle.load(tmp_path / "a")(lightness))
    pyfunc = mlflow.pyfunc.load_model("models:/chromastyle@champion")
    out = pyfunc.predict(np.full((2, 40, 30, 3), 128, np.uint8))
    assert out.shape == (2, 40, 30, 3) and out.dtype == np.uint8


def test_no_champion_means_nothing_to_download(mlflow_store):
    from chromastyle import registry

    assert registry.champion_info("chromastyle") is None
    assert registry.download_champion("chromastyle", mlflow_store / "dl") is None
    assert registry.load_champion("chromastyle") is None


def test_promotion_scope_lets_only_the_committed_baseline_move_the_champion():
    from chromastyle.registry import promotion_scope

    assert promotion_scope("baseline", None, []) == (True, "the committed baseline")
    allowed, kind = promotion_scope("baseline", "steps7", [])
    assert not allowed and "DVC experiment 'steps7'" in kind
    allowed, kind = promotion_scope("baseline", None, ["train.seed=1"])
    assert not allowed and "train.seed=1" in kind
    assert promotion_scope(True, "steps7", [])[0]
    assert not promotion_scope(False, None, [])[0]


def test_an_experiment_that_beats_the_champion_stays_a_challenger(mlflow_store, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from chromastyle import registry

    cfg = RegisterConfig()
    mlflow.set_experiment(experiment_id=registry.ensure_experiment())
    runs = []
    for _ in range(3):
        runs.append(mlflow.start_run().info.run_id)
        mlflow.end_run()
    baseline = registry.register(_saved_model(tmp_path, "a", 1), runs[0], {"model": WORSE}, {}, cfg,
                                 scope=registry.promotion_scope("baseline", None, []))
    assert baseline.promoted
    trial = registry.register(_saved_model(tmp_path, "b", 2), runs[1], {"model": GOOD, "champion": WORSE}, {}, cfg,
                              scope=registry.promotion_scope("baseline", "better-idea", []))
    client = MlflowClient()
    assert not trial.promoted and "DVC experiment 'better-idea'" in trial.reason and "beats champion" in trial.reason
    assert str(client.get_model_version_by_alias("chromastyle", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("chromastyle", "challenger").version) == "2"
    assert "may not move champion" in client.get_model_version("chromastyle", "2").tags["promotion_reason"]
    # The same result with register.promote: true (an explicit choice) does move it.
    chosen = registry.register(_saved_model(tmp_path, "c", 3), runs[2], {"model": GOOD, "champion": WORSE}, {}, cfg,
                               scope=registry.promotion_scope(True, "better-idea", []))
    assert chosen.promoted and str(client.get_model_version_by_alias("chromastyle", "champion").version) == "3"


def test_the_version_description_counts_hints_in_words():
    from chromastyle.registry import hints_summary

    line = hints_summary({"external-test": {"automatic": {"psnr": 21.0},
                                            "hints1": {"psnr_gain": 0.71}, "hints5": {"psnr_gain": 3.4},
                                            "palette": {"psnr_gain": 2.0}}})
    assert line == "external-test: 1 hint +0.71 dB, 5 hints +3.40 dB, own palette +2.00 dB"
