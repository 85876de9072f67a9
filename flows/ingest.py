"""DVC stage `ingest`: copy the configured photo folder into data/raw with a manifest."""

from flows._common import EXPECTED_ERRORS, ROOT, fail, run_stage  # noqa: I001  (sets offline env first)

from prefect import flow, task

from chromastyle.config import Params
from chromastyle.data.ingest import ingest, list_source_files

RAW_DIR = ROOT / "data" / "raw"


@task(name="copy-and-hash")
def copy_and_hash(source, raw_dir):
    return ingest(source, raw_dir)


@flow(name="ingest")
def ingest_flow(params: Params):
    source = params.data.source if params.data.source.is_absolute() else ROOT / params.data.source
    try:
        list_source_files(source)  # fail fast, with the fix in the message, before any work
    except EXPECTED_ERRORS as err:
        return fail(err)
    return len(copy_and_hash(source, RAW_DIR))


if __name__ == "__main__":
    run_stage(ingest_flow, "ingest")
