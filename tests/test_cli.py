from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from chromastyle.cli import main
from chromastyle.model.integrated import Chromastyle, ModelConfig
from conftest import photo, png_bytes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(tmp_path / "model")
    return tmp_path / "model"


def test_colorize_a_batch_of_files_of_any_size(model_dir, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    a.write_bytes(png_bytes(photo(1, size=(33, 57)), mode="L"))
    b.write_bytes(png_bytes(photo(2, size=(80, 40)), fmt="JPEG"))
    assert main(["colorize", str(a), str(b), "-o", str(tmp_path / "out"), "--model", str(model_dir)]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "a_colorized.png"))
    assert out.shape == (33, 57, 3)
    assert (tmp_path / "out" / "b_colorized.png").is_file()


def test_a_corrupt_file_is_reported_and_the_others_still_done(model_dir, tmp_path, caplog):
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    good.write_bytes(png_bytes(photo(3)))
    bad.write_bytes(b"\xff\xd8\xff not really")
    assert main(["colorize", str(bad), str(good), "-o", str(tmp_path), "--model", str(model_dir)]) == 1
    assert (tmp_path / "good_colorized.png").is_file()
    assert "bad.jpg" in caplog.text


def test_stylize_with_mixed_styles(model_dir, tmp_path):
    image = tmp_path / "p.png"
    image.write_bytes(png_bytes(photo(4)))
    style_file = tmp_path / "s.png"
    style_file.write_bytes(png_bytes(photo(5)))
    code = main(["stylize", str(image), "--style", "greatwave", "--style", str(style_file), "--weights", "0.7,0.3",
                 "--alpha", "0.6", "--preserve-color", "--styles-dir", str(ROOT / "data" / "styles"),
                 "-o", str(tmp_path), "--model", str(model_dir)])
    assert code == 0 and (tmp_path / "p_stylized.png").is_file()


def test_bad_arguments_are_one_clear_line(model_dir, tmp_path, capsys):
    image = tmp_path / "p.png"
    image.write_bytes(png_bytes(photo(6)))
    assert main(["stylize", str(image), "--style", "greatwave", "--alpha", "2", "--model", str(model_dir)]) == 2
    assert "--alpha must lie in [0, 1]" in capsys.readouterr().err
    assert main(["stylize", str(image), "--style", "nope", "--model", str(model_dir),
                 "--styles-dir", str(ROOT / "data" / "styles")]) == 2
    assert "neither a file nor a gallery name" in capsys.readouterr().err
    assert main(["colorize", str(image), "--model", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
