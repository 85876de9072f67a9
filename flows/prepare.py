"""DVC stage `prepare`: validation held out by source, train/test by content hash, square crops at
data.prepared_size."""

from flows._common import PREPARED_DIR, RAW_DIR, VALIDATED_DIR, fail, run_stage  # noqa: I001  (sets offline env first)

import pandas as pd
from prefect import flow, task

from chromastyle.config import Params
from chromastyle.data.prepare import prepare

VALIDATED = VALIDATED_DIR / "manifest.csv"


@task(name="split-and-crop")
def split_and_crop(kept: pd.DataFrame, params: Params) -> dict:
    return prepare(RAW_DIR, kept, PREPARED_DIR, params.data.prepared_size, params.data.split_val,
                   params.data.split_test, params.data.validation_sources)


@flow(name="prepare")
def prepare_flow(params: Params):
    if not VALIDATED.is_file():
        return fail(FileNotFoundError(f"{VALIDATED}: missing; run `dvc repro validate` first"))
    return split_and_crop(pd.read_csv(VALIDATED, keep_default_na=False), params)


if __name__ == "__main__":
    run_stage(prepare_flow, "prepare")
