from pathlib import Path

import pytest
import yaml

from chromastyle.config import ConfigError, load_params, parse_params

ROOT = Path(__file__).resolve().parent.parent


def test_config_defaults_are_the_values_of_params_yaml():
    """A key left out of params.yaml (or a test's tiny config) means what the committed file says."""
    from chromastyle.config import Params

    committed = load_params(ROOT / "params.yaml").model_dump(mode="json")
    defaults = Params().model_dump(mode="json")
    differ = [f"{section}.{key}: default {defaults[section][key]!r} != params.yaml {value!r}"
              for section, values in committed.items() for key, value in values.items()
              if defaults[section][key] != value]
    assert not differ, differ
    assert set(defaults) == set(committed)


def test_invalid_value_names_the_key():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["batch_size"] = 0
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        parse_params(raw)


def test_unknown_key_is_a_typo_not_ignored():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match="learning_rate"):
        parse_params(raw)


def test_image_size_must_fit_the_unet():
    with pytest.raises(ConfigError, match="multiple of 32"):
        parse_params({"train": {"image_size": 80}})
    with pytest.raises(ConfigError, match="multiple of 16"):
        parse_params({"train": {"image_size": 70, "encoder": "scratch"}})
    assert parse_params({"train": {"image_size": 80, "encoder": "scratch"}}).train.image_size == 80


def test_a_decoder_too_narrow_to_halve_three_times_is_refused():
    with pytest.raises(ConfigError, match="decoder_width 4 must be 0"):
        parse_params({"train": {"decoder_width": 4}})
    with pytest.raises(ConfigError, match="decoder_padding"):
        parse_params({"train": {"decoder_padding": "circular"}})
    assert parse_params({"train": {"decoder_width": 0}}).train.decoder_width == 0


def test_one_source_folder_or_a_list():
    assert parse_params({"data": {"source": "photos"}}).data.source == [Path("photos")]
    assert parse_params({"data": {"source": ["a", "b"]}}).data.source == [Path("a"), Path("b")]
    with pytest.raises(ConfigError, match="at least one photo folder"):
        parse_params({"data": {"source": []}})


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_dvc_set_param_changes_one_line_of_params_yaml(tmp_path):
    """`dvc exp run -S train.colorizer_steps=300` rewrites params.yaml with DVC's YAML round trip:
    the file is kept in the form that round trip writes, so an experiment's diff is one line."""
    from dvc.utils.serialize import modify_yaml

    original = (ROOT / "params.yaml").read_text()
    copy = tmp_path / "params.yaml"
    copy.write_text(original)
    with modify_yaml(str(copy)) as data:
        data["train"]["colorizer_steps"] = 300
    changed = [(a, b) for a, b in zip(original.splitlines(), copy.read_text().splitlines()) if a != b]
    assert len(original.splitlines()) == len(copy.read_text().splitlines())
    assert len(changed) == 1 and "colorizer_steps: 300" in changed[0][1], changed


def test_a_run_of_the_committed_params_names_no_changed_param(monkeypatch):
    """Run names list the params an experiment changed; `10` in params.yaml is the float 10.0."""
    import subprocess

    from chromastyle.config import load_params
    monkeypatch.syspath_prepend(str(ROOT))  # flows/ is the project's, not an installed package
    from flows import _common

    committed = (ROOT / "params.yaml").read_text()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, committed, ""))
    params = load_params(ROOT / "params.yaml")
    assert _common.changed_params(params) == []
    changed = params.model_copy(update={"augment": params.augment.model_copy(update={"rotate_limit": 12.5})})
    assert _common.changed_params(changed) == ["augment.rotate_limit=12.5"]


def test_a_folder_written_as_a_string_is_the_same_source_as_its_list(monkeypatch):
    import subprocess

    monkeypatch.syspath_prepend(str(ROOT))  # flows/ is the project's, not an installed package
    from flows import _common

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["source"] = "data/sample"
    monkeypatch.setattr(subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, yaml.safe_dump(raw), ""))
    assert _common.changed_params(parse_params(raw)) == []
