"""Ingest, validation (Great Expectations), split and crops on small synthetic folders."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from chromastyle.config import ValidateConfig
from chromastyle.data.ingest import DataSourceError, ingest
from chromastyle.data.prepare import load_originals, load_split, photo_source, prepare, split_of, square_crop
from chromastyle.data.validation import image_stats, validate_table, write_report
from conftest import photo, png_bytes

LENIENT = ValidateConfig(min_side=32, min_kept_images=4, max_quarantined_fraction=0.6)


def plant_bad_files(folder):
    good = (folder / "p00.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(good[: len(good) // 3])
    (folder / "notes.jpg").write_text("this is not a photo")
    (folder / "copy.jpg").write_bytes(good)
    (folder / "gray.png").write_bytes(png_bytes(photo(50), mode="L"))
    (folder / "tiny.png").write_bytes(png_bytes(photo(51, size=(8, 8))))


def test_ingest_copies_everything_with_a_manifest(photo_folder, tmp_path):
    plant_bad_files(photo_folder)
    (photo_folder / "CREDITS.tsv").write_text("file\tauthor\n")
    manifest = ingest(photo_folder, tmp_path / "raw")
    assert len(manifest) == 17  # 12 photos + 5 bad files; the credits are not a photo
    assert (tmp_path / "raw" / "manifest.csv").is_file()
    assert set(manifest.columns) == {"path", "sha256", "size", "mode"}
    assert manifest.set_index("path").loc["notes.jpg", "mode"] == ""


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataSourceError, match="data folder not found.*params.yaml"):
        ingest(tmp_path / "nope", tmp_path / "raw")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match="holds no files"):
        ingest(tmp_path / "empty", tmp_path / "raw")


def test_bad_files_are_quarantined_with_their_reason(photo_folder, tmp_path):
    plant_bad_files(photo_folder)
    raw = tmp_path / "raw"
    table = image_stats(raw, ingest(photo_folder, raw))
    outcome = validate_table(table, LENIENT)
    reasons = outcome.quarantined.set_index("path")["reasons"].to_dict()
    assert set(reasons) == {"broken.jpg", "notes.jpg", "gray.png", "tiny.png", "p00.jpg"}
    assert "not a decodable image" in reasons["broken.jpg"] and "not a decodable image" in reasons["notes.jpg"]
    assert "near grayscale" in reasons["gray.png"]
    assert "shorter side" in reasons["tiny.png"]
    assert "duplicate" in reasons["p00.jpg"]  # copy.jpg sorts first, so it is the original
    assert outcome.success and len(outcome.kept) == 12

    summary = write_report(outcome, raw, tmp_path / "quarantine", tmp_path / "reports")
    assert summary["files_in"] == 17 and summary["kept"] == 12 and summary["quarantined"] == 5
    assert (tmp_path / "quarantine" / "broken.jpg").is_file()
    report = json.loads((tmp_path / "reports" / "validation.json").read_text())
    assert {f["path"] for f in report["quarantined_files"]} == set(reasons)
    assert "broken.jpg" in (tmp_path / "reports" / "validation.md").read_text()


def test_too_few_usable_photos_is_a_hard_failure_naming_files(photo_folder, tmp_path):
    plant_bad_files(photo_folder)
    raw = tmp_path / "raw"
    table = image_stats(raw, ingest(photo_folder, raw))
    strict = ValidateConfig(min_side=32, min_kept_images=50, max_quarantined_fraction=0.1)
    outcome = validate_table(table, strict)
    assert not outcome.success
    text = " ".join(outcome.hard_failures)
    assert "need at least 50" in text and "broken.jpg" in text and "more than 10%" in text


def test_split_is_by_content_hash_and_stable_when_photos_are_added():
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)]
    before = {h: split_of(h, 0.1, 0.15) for h in hashes[:100]}
    after = {h: split_of(h, 0.1, 0.15) for h in hashes}
    assert all(after[h] == before[h] for h in before)
    shares = pd.Series(list(after.values())).value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.15, abs=0.05) and shares["val"] == pytest.approx(0.1, abs=0.05)


def test_prepare_writes_square_splits(photo_folder, tmp_path):
    raw = tmp_path / "raw"
    table = image_stats(raw, ingest(photo_folder, raw))
    kept = validate_table(table, LENIENT).kept
    counts = prepare(raw, kept, tmp_path / "prepared", 32, 0.2, 0.3)
    assert sum(counts.values()) == 12
    images, names = load_split(tmp_path / "prepared", "train")
    assert images.shape == (counts["train"], 32, 32, 3) and images.dtype == np.uint8
    # Deterministic: a second run gives identical arrays.
    shutil.rmtree(tmp_path / "prepared")
    prepare(raw, kept, tmp_path / "prepared", 32, 0.2, 0.3)
    assert np.array_equal(load_split(tmp_path / "prepared", "train")[0], images)


def test_square_crop_of_any_aspect():
    assert square_crop(photo(1, size=(50, 200)), 32).shape == (32, 32, 3)
    assert square_crop(photo(1, size=(201, 31)), 32).shape == (32, 32, 3)


def test_several_folders_land_in_named_subfolders_with_their_credits(photo_folder, tmp_path):
    second = tmp_path / "extra"
    second.mkdir()
    (second / "p00.jpg").write_bytes(png_bytes(photo(70), fmt="JPEG"))  # same name, other photo
    (second / "CREDITS.tsv").write_text("file\tlicence\np00.jpg\tCC0-1.0\n")
    (second / "LICENSES").mkdir()
    (second / "LICENSES" / "CC0-1.0.txt").write_text("licence text, not a photo")
    manifest = ingest([photo_folder, second], tmp_path / "raw")
    paths = set(manifest["path"])
    assert "extra/p00.jpg" in paths and "photos/p00.jpg" in paths and len(paths) == 13
    assert not any("LICENSES" in p for p in paths)
    assert (tmp_path / "raw" / "extra" / "CREDITS.tsv").is_file()
    assert (tmp_path / "raw" / "extra" / "LICENSES" / "CC0-1.0.txt").is_file()
    # One folder keeps the plain layout.
    assert "p00.jpg" in set(ingest(photo_folder, tmp_path / "raw1")["path"])


def test_folders_with_the_same_name_are_refused(photo_folder, tmp_path):
    other = tmp_path / "elsewhere" / "photos"
    other.mkdir(parents=True)
    with pytest.raises(DataSourceError, match="distinct names"):
        ingest([photo_folder, other], tmp_path / "raw")


def _sourced_folders(tmp_path):
    """Two ingested folders: `a` holds photos of sources alpha and beta (`<source>__<stem>`), `b` plain names."""
    for folder, names in {"a": [f"alpha__{i}" for i in range(6)] + [f"beta__{i}" for i in range(6)],
                          "b": [f"b{i}" for i in range(8)]}.items():
        (tmp_path / folder).mkdir()
        for i, name in enumerate(names):
            (tmp_path / folder / f"{name}.jpg").write_bytes(png_bytes(photo(i + 20 * len(folder + name)), fmt="JPEG"))
    raw = tmp_path / "raw"
    table = image_stats(raw, ingest([tmp_path / "a", tmp_path / "b"], raw))
    return raw, validate_table(table, LENIENT).kept


def test_validation_holds_out_whole_sources_and_nothing_else(tmp_path):
    raw, kept = _sourced_folders(tmp_path)
    assert sorted(set(kept["path"].map(photo_source))) == ["alpha", "b", "beta"]
    counts = prepare(raw, kept, tmp_path / "prepared", 32, 0.0, 0.25, validation_sources=["beta", "b"])
    split = pd.read_csv(tmp_path / "prepared" / "split.csv")
    by_source = split.assign(source=split["path"].map(photo_source)).groupby("source")["split"].agg(set)
    assert by_source["beta"] == {"val"} and by_source["b"] == {"val"}  # a file-name source and a folder
    assert "val" not in by_source["alpha"] and counts["val"] == 6 + 8
    assert set(load_split(tmp_path / "prepared", "val")[1]) == set(split.query("split == 'val'")["path"])


def test_a_validation_source_with_no_photo_is_an_error(tmp_path):
    raw, kept = _sourced_folders(tmp_path)
    with pytest.raises(ValueError, match=r"validation_sources: no photo comes from \['gamma'\]"):
        prepare(raw, kept, tmp_path / "prepared", 32, 0.0, 0.25, validation_sources=["beta", "gamma"])


def test_originals_of_a_split_are_whole_and_at_their_own_size(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    sizes = [(40 + 8 * i, 70 - 2 * i) for i in range(10)]
    for i, size in enumerate(sizes):
        (raw / f"p{i}.png").write_bytes(png_bytes(photo(i, size=size)))
    table = image_stats(raw, pd.DataFrame([{"path": f"p{i}.png", "sha256": hashlib.sha256(
        (raw / f"p{i}.png").read_bytes()).hexdigest(), "size": 1000, "mode": "RGB"} for i in range(10)]))
    prepare(raw, table, tmp_path / "prepared", 32, 0.3, 0.3)
    for split in ("train", "val", "test"):
        photos, names = load_originals(raw, tmp_path / "prepared", split)
        assert names == load_split(tmp_path / "prepared", split)[1]
        assert [p.shape[:2] for p in photos] == [sizes[int(n[1:-4])] for n in names]
