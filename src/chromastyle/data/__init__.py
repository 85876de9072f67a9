"""Data stages: ingest, validation suite, split, datasets, augmentation."""
