"""The command line as a user meets it: batches, names that never collide, arguments checked before
anything loads, no result overwritten, exit status = inputs that failed."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from chromastyle import cli
from chromastyle.cli import USAGE_ERROR, main
from chromastyle.model.integrated import Chromastyle, ModelConfig
from chromastyle.project import find_project_root
from conftest import photo, png_bytes

ROOT = Path(__file__).resolve().parent.parent
STYLES = ["--styles-dir", str(ROOT / "data" / "styles")]


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails the test if the CLI gets as far as loading a model."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")
    monkeypatch.setattr(cli, "load_model", refuse)


def write(path: Path, rgb: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> Path:
    path.write_bytes(png_bytes(rgb, mode=mode, fmt=fmt))
    return path


def test_a_batch_of_same_named_inputs_gives_one_file_each(model_dir, tmp_path):
    inputs = [write(tmp_path / "cheetah.jpg", photo(1), "JPEG"), write(tmp_path / "cheetah.webp", photo(2), "WEBP"),
              write(tmp_path / "cheetah.tif", photo(3), "TIFF"), write(tmp_path / "sea.jpg", photo(4, (33, 57)), "JPEG")]
    out = tmp_path / "out"
    assert main(["colorize", *map(str, inputs), "-o", str(out), "--model", str(model_dir)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cheetah-jpg_colorized.png", "cheetah-tif_colorized.png", "cheetah-webp_colorized.png",
                     "sea_colorized.png"]
    assert np.asarray(Image.open(out / "sea_colorized.png")).shape == (33, 57, 3)


def test_two_styles_of_one_photo_do_not_overwrite_each_other(model_dir, tmp_path):
    image = write(tmp_path / "p.png", photo(4))
    for style in ("greatwave", "kandinky"):
        assert main(["stylize", str(image), "--style", style, "--alpha", "0.6", *STYLES, "-o", str(tmp_path / "o"),
                     "--model", str(model_dir)]) == 0
    mixed = ["stylize", str(image), "--style", "greatwave", "--style", str(write(tmp_path / "s.png", photo(5))),
             "--weights", "0.7,0.3", "--preserve-color", *STYLES, "-o", str(tmp_path / "o"), "--model", str(model_dir)]
    assert main(mixed) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "p_greatwave+s_a0.7_stylized.png", "p_greatwave_a0.6_stylized.png", "p_kandinky_a0.6_stylized.png"]


def test_results_are_never_overwritten_unless_asked(model_dir, tmp_path, capsys):
    image = write(tmp_path / "p.png", photo(4))
    args = ["colorize", str(image), "-o", str(tmp_path / "o"), "--model", str(model_dir)]
    assert main(args) == 0
    target = tmp_path / "o" / "p_colorized.png"
    target.write_bytes(b"my edited result")
    assert main(args) == USAGE_ERROR
    assert "--overwrite" in capsys.readouterr().err and target.read_bytes() == b"my edited result"
    assert main([*args, "--overwrite"]) == 0 and target.read_bytes() != b"my edited result"


def test_folders_and_globs_and_formats(model_dir, tmp_path):
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    write(folder / "a.png", photo(1))
    write(folder / "sub" / "b.jpg", photo(2), "JPEG")
    (folder / "notes.txt").write_text("not an image")
    write(tmp_path / "c.png", photo(3))
    out = tmp_path / "out"
    assert main(["colorize", str(folder), str(tmp_path / "c*.png"), "-o", str(out), "--format", "jpeg",
                 "--model", str(model_dir)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_colorized.jpg", "b_colorized.jpg", "c_colorized.jpg"]


def test_exit_status_counts_the_inputs_that_failed(model_dir, tmp_path, caplog, capsys):
    good = write(tmp_path / "good.png", photo(3))
    bad = [tmp_path / "bad1.jpg", tmp_path / "bad2.png"]
    for path in bad:
        path.write_bytes(b"\xff\xd8\xff not really")
    assert main(["colorize", str(bad[0]), str(good), str(bad[1]), "-o", str(tmp_path / "o"),
                 "--model", str(model_dir)]) == 2
    assert (tmp_path / "o" / "good_colorized.png").is_file()
    assert "bad1.jpg" in caplog.text and "2 of 3 input(s) failed" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["colorize", "missing.jpg"], "input 'missing.jpg': no such file"),
    (["colorize", "nothing-*.jpg"], "matches no file"),
    (["stylize", "{image}", "--style", "nope", *STYLES], "--style nope: neither a file nor a gallery name"),
    (["stylize", "{image}", "--style", "greatwave", "--weights", "x", *STYLES], "--weights 'x'"),
    (["stylize", "{image}", "--style", "greatwave", "--weights", "0.5,0.5", *STYLES], "2 weight(s) for 1"),
    (["stylize", "{image}", "--style", "greatwave", "--weights", "nan", *STYLES], "--weights 'nan'"),
    (["stylize", "{image}", "--style", "greatwave", "--alpha", "2", *STYLES], "--alpha 2.0"),
    (["stylize", "{image}", "--style", "greatwave", "--alpha", "nan", *STYLES], "--alpha nan"),
    (["colorize", "{image}", "--model", "no/such/folder"], "--model no/such/folder"),
    (["colorize", "{image}", "--hint", "10,20"], "--hint '10,20': expected X,Y,#RRGGBB"),
    (["colorize", "{image}", "--hint", "10,20,green"], "--hint '10,20,green': colour must be '#rrggbb'"),
    (["colorize", "{image}", "--hint=-1,20,#00ff00"], "coordinates >= 0"),
    (["colorize", "{image}", "--hint", "nan,20,#00ff00"], "must be finite"),
    (["colorize", "{image}", "--hints", "no/such.json"], "--hints no/such.json: cannot read it"),
    (["colorize", "{image}", "--hints", "{bad_json}"], "hints[0].color"),
    (["colorize", "{image}", "--reference", "{not_an_image}"], "--reference"),
])
def test_bad_arguments_fail_at_once_naming_the_option(argv, message, tmp_path, capsys, no_model_loading):
    image = write(tmp_path / "p.png", photo(6))
    out = tmp_path / "never-created"
    bad_json = tmp_path / "hints.json"
    bad_json.write_text('[{"x": 1, "y": 2, "color": "#12345"}]')
    not_an_image = tmp_path / "reference.jpg"
    not_an_image.write_text("not an image")
    argv = [a.replace("{image}", str(image)).replace("{bad_json}", str(bad_json))
            .replace("{not_an_image}", str(not_an_image)) for a in argv] + ["-o", str(out)]
    assert main(argv) == USAGE_ERROR
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing is created for a refused command"


def test_help_has_examples_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "examples:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("chromastyle ")
    with pytest.raises(SystemExit) as exit_info:
        main(["colorize"])
    assert exit_info.value.code == USAGE_ERROR


def test_the_registry_is_found_from_the_project_not_the_current_folder(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    for marker in ("dvc.yaml", "params.yaml"):
        (project / marker).write_text("")
    assert find_project_root(project / "deep" / "er") == project
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    image = write(elsewhere / "p.png", photo(1))
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}")
    assert main(["colorize", str(image)]) == USAGE_ERROR
    error = capsys.readouterr().err
    assert "no model registry at" in error and "absent/mlflow.db" in error
    assert sorted(p.name for p in elsewhere.iterdir()) == ["p.png"], "nothing created in the current folder"


def test_outputs_and_styles_are_checked_before_the_model_loads(tmp_path, capsys, no_model_loading):
    image = write(tmp_path / "p.png", photo(2))
    a_file = write(tmp_path / "a_file.png", photo(3))
    assert main(["colorize", str(image), "-o", str(a_file)]) == USAGE_ERROR
    assert "exists and is not a folder" in capsys.readouterr().err
    assert main(["colorize", str(image), "-o", str(a_file / "sub")]) == USAGE_ERROR
    assert f"--output {a_file / 'sub'}: cannot write there" in capsys.readouterr().err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(png_bytes(photo(4), fmt="JPEG")[:200])
    out = tmp_path / "out"
    assert main(["stylize", str(image), "--style", str(broken), "-o", str(out)]) == USAGE_ERROR
    assert f"--style {broken}" in capsys.readouterr().err
    assert not out.exists()


def test_the_default_alpha_is_the_services(capsys):
    from chromastyle.service.forms import StylizeForm

    args = cli.build_parser().parse_args(["stylize", "p.jpg", "--style", "greatwave"])
    assert args.alpha == StylizeForm.model_fields["alpha"].default


def test_help_lists_every_option_of_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--output", "--overwrite", "--runtime", "--style", "--weights", "--alpha", "--preserve-color"):
        assert option in text, option


def test_a_failing_input_after_others_were_written_counts_as_one_failure(model_dir, tmp_path, monkeypatch):
    """An error of the model on one input (after another was written) is that input's failure
    (status 1), never 100 ("nothing done")."""
    import chromastyle.inference as inference

    real = inference.colorize_photo

    def fails_on_b(model, rgb, limits, *guidance):
        if rgb.shape[:2] == (7, 9):
            raise ValueError("cannot colourise this one")
        return real(model, rgb, limits, *guidance)

    monkeypatch.setattr(inference, "colorize_photo", fails_on_b)
    good = write(tmp_path / "a.png", photo(5))
    bad = write(tmp_path / "b.png", photo(6, size=(7, 9)))
    out = tmp_path / "out"
    assert main(["colorize", str(good), str(bad), "--model", str(model_dir), "-o", str(out)]) == 1
    assert (out / "a_colorized.png").is_file() and not (out / "b_colorized.png").exists()


def _register(tmp_path, seed: int, metrics: dict) -> str:
    import mlflow

    from chromastyle import registry
    from chromastyle.config import RegisterConfig

    torch.manual_seed(seed)
    folder = tmp_path / f"model{seed}"
    Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(folder)
    mlflow.set_experiment(experiment_id=registry.ensure_experiment())
    run_id = mlflow.start_run().info.run_id
    mlflow.end_run()
    return registry.register(folder, run_id, metrics, {}, RegisterConfig(promote=True)).version


def test_the_champion_is_read_from_the_cache_until_the_registry_changes(mlflow_store, tmp_path, monkeypatch, caplog):
    """Asking MLflow costs ~3 s a call; while the local registry is unchanged the CLI loads the champion it
    downloaded last time without asking, and a new champion is picked up at the next call."""
    from chromastyle import registry

    caplog.set_level("INFO", logger="chromastyle.cli")
    monkeypatch.setenv("CHROMASTYLE_CACHE_DIR", str(tmp_path / "cache"))
    image = write(tmp_path / "p.png", photo(7))
    first = {"model": {"delta_cf": 5.0, "frechet_offline": 1.0, "frechet_effnet_lite0": 40.0}}
    assert _register(tmp_path, 1, first) == "1"

    def colorize(out: str) -> bytes:
        caplog.clear()
        assert main(["colorize", str(image), "-o", str(tmp_path / out), "--runtime", "torch"]) == 0
        return (tmp_path / out / "p_colorized.png").read_bytes()

    asked = colorize("a")
    assert "version 1 (champion)" in caplog.text and "cached in" not in caplog.text

    def no_mlflow(*args, **kwargs):
        raise AssertionError("MLflow was asked although the registry did not change")
    with monkeypatch.context() as patch:
        patch.setattr(registry, "champion_info", no_mlflow)
        assert colorize("b") == asked, "the cached champion gives the same bytes"
    assert "version 1 (champion)" in caplog.text and "cached in" in caplog.text

    better = {"model": {"delta_cf": 5.0, "frechet_offline": 0.5, "frechet_effnet_lite0": 20.0},
              "champion": first["model"]}
    assert _register(tmp_path, 2, better) == "2"
    assert colorize("c") != asked
    assert "version 2 (champion)" in caplog.text and "cached in" not in caplog.text


def test_hints_and_a_reference_reach_the_model_and_name_the_output(model_dir, tmp_path, monkeypatch):
    from chromastyle import inference

    seen = []
    real = inference.colorize_photo

    def spy(model, rgb, limits, hints=None, reference=None):
        seen.append((hints, None if reference is None else reference.shape))
        return real(model, rgb, limits)  # the untrained test model takes no hints

    monkeypatch.setattr(inference, "colorize_photo", spy)
    monkeypatch.setattr(cli, "load_model", lambda args, root: _HintModel(args.model))
    image = write(tmp_path / "p.png", photo(6, (40, 60)))
    hints_file = tmp_path / "hints.json"
    hints_file.write_text('[{"x": 59, "y": 39, "color": "#0000ff"}]')
    reference = write(tmp_path / "ref.jpg", photo(7, (20, 30)), "JPEG")
    assert main(["colorize", str(image), "--hint", "5,6,#00c000", "--hints", str(hints_file), "--reference",
                 str(reference), "-o", str(tmp_path / "o"), "--model", str(model_dir)]) == 0
    (hints, reference_shape), = seen
    assert [(h.x, h.y) for h in hints] == [(5.0, 6.0), (59.0, 39.0)]
    assert hints[0].a < -20 and hints[1].b < -50  # green: a* < 0; blue: b* < 0
    assert reference_shape == (20, 30, 3)
    assert (tmp_path / "o" / "p_guided.png").is_file()


def test_a_hint_outside_the_photo_fails_that_input_naming_it(model_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(cli, "load_model", lambda args, root: _HintModel(args.model))
    image = write(tmp_path / "p.png", photo(6, (40, 60)))
    assert main(["colorize", str(image), "--hint", "60,10,#00c000", "-o", str(tmp_path / "o"),
                 "--model", str(model_dir)]) == 1
    assert "lies outside the 60×40 image" in caplog.text
    assert not (tmp_path / "o" / "p_guided.png").exists()


def test_hints_for_a_model_trained_without_them_are_refused(model_dir, tmp_path, capsys):
    image = write(tmp_path / "p.png", photo(6))
    assert main(["colorize", str(image), "--hint", "5,6,#00c000", "-o", str(tmp_path / "o"),
                 "--model", str(model_dir)]) == USAGE_ERROR
    assert "trained with hints" in capsys.readouterr().err


def _HintModel(folder):
    """The test model, loaded, as a hint model (its colouriser rebuilt with hint inputs)."""
    from chromastyle.model.onnx_runtime import load_for_inference

    model = load_for_inference(folder, "torch")
    torch.manual_seed(0)
    hinted = Chromastyle(ModelConfig(**{**model.cfg.__dict__, "hints": True}))
    return hinted.eval()
