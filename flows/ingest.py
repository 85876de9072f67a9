"""DVC stage `ingest`: copy the configured photo folder(s) into data/raw with a manifest."""

from flows._common import EXPECTED_ERRORS, RAW_DIR, ROOT, fail, run_stage  # noqa: I001  (sets offline env first)

import logging

import yaml
from prefect import flow, task

from chromastyle.config import Params
from chromastyle.data.ingest import ingest, list_source_files

log = logging.getLogger("chromastyle.ingest")


def warn_about_untracked_sources(sources: list) -> None:
    """DVC cannot template a list into `deps`: each folder of data.source must be listed in dvc.yaml's
    ingest deps by hand, or `dvc repro` will not notice photos added to it. Say so when one is not."""
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["ingest"].get("deps", [])
    listed = {(ROOT / str(dep)).resolve() for dep in deps}
    for source in sources:
        if source.resolve() not in listed:
            log.warning("%s is in data.source but not in the ingest stage's deps in dvc.yaml: add it there, "
                        "or DVC will not re-run ingest when its photos change", source)


@task(name="copy-and-hash")
def copy_and_hash(source, raw_dir):
    return ingest(source, raw_dir)


@flow(name="ingest")
def ingest_flow(params: Params):
    sources = [source if source.is_absolute() else ROOT / source for source in params.data.source]
    try:
        for source in sources:
            list_source_files(source)  # fail fast, with the fix in the message, before any work
    except EXPECTED_ERRORS as err:
        return fail(err)
    warn_about_untracked_sources(sources)
    return len(copy_and_hash(sources, RAW_DIR))


if __name__ == "__main__":
    run_stage(ingest_flow, "ingest")
