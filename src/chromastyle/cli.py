"""`chromastyle` command: colourise or stylise image files with the champion (or a model folder).

Every argument is checked before anything is loaded (a typo costs milliseconds, not the 10 s of
loading a model); no result is ever overwritten unless --overwrite says so; output names are
unique within a run and stable across runs (they say which input, which style and which α).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import logging
import math
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from chromastyle.config import DEFAULT_ALPHA
from chromastyle.offline import disable_telemetry

log = logging.getLogger("chromastyle.cli")

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
USAGE_ERROR = 100  # exit status for bad arguments; 1..99 = that many inputs failed
EXAMPLES = """\
examples:
  chromastyle colorize old_photo.jpg                      # -> ./old_photo_colorized.png
  chromastyle colorize scans/ "archive/*.tif" -o out/     # folders and (quoted) globs
  chromastyle colorize dune.jpg --hint 40,30,#d9a066 --hint 300,20,#4a7fc1   # colours you choose, at pixels x,y
  chromastyle colorize dune.jpg --hints hints.json --reference colour_photo.jpg
  chromastyle stylize photo.jpg --style greatwave --alpha 0.7 -o out/
  chromastyle stylize photo.jpg --style greatwave --style my_painting.jpg --weights 0.7,0.3 --preserve-color

model: --model FOLDER (model.safetensors + config.json), else the champion of the MLflow registry
of the project (found from the current folder upwards, or from where chromastyle is installed;
MLFLOW_TRACKING_URI overrides).
exit status: 0 all done; N (1-99) N inputs failed (the others are done); 100 bad arguments (nothing done).
"""


class UsageError(ValueError):
    """A bad argument: reported as one line naming the option, before any work."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors use our usage status too
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _version() -> str:
    try:
        return version("chromastyle")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chromastyle", description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"chromastyle {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text in (("colorize", "colourise grayscale (or any) photos"),
                            ("stylize", "colourise, then repaint in the style of paintings")):
        command = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("inputs", nargs="+", help="image files, folders of images, or glob patterns")
        command.add_argument("-o", "--output", type=Path, default=Path("."), help="output folder (default: .)")
        command.add_argument("--format", choices=("png", "jpeg", "webp"), default="png", help="output format")
        command.add_argument("--overwrite", action="store_true", help="replace existing output files")
        command.add_argument("--model", type=Path, help="a model folder (model.safetensors + config.json); "
                                                        "default: the registry's champion")
        command.add_argument("--model-name", default="chromastyle", help="registered model name")
        command.add_argument("--runtime", choices=("onnx", "torch"), default="onnx",
                             help="ONNX Runtime (default, the faster on CPU here) or eager PyTorch")
        if name == "colorize":
            command.add_argument("--hint", action="append", default=[], metavar="X,Y,#RRGGBB",
                                 help="a colour at pixel (x, y) of the input (x right, y down, after EXIF "
                                      "orientation); repeat for more")
            command.add_argument("--hints", type=Path, metavar="FILE",
                                 help='a JSON file of hints: [{"x": 40, "y": 30, "color": "#d9a066"}, ...]')
            command.add_argument("--reference", type=Path, metavar="IMAGE",
                                 help="a colour photo whose palette the colourisation follows")
        if name == "stylize":
            command.add_argument("--style", action="append", required=True,
                                 help="a gallery name (e.g. greatwave) or an image file; repeat to mix styles")
            command.add_argument("--weights", help="comma-separated mixing weights, one per --style")
            command.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                                 help=f"content/style trade-off in [0, 1] (default {DEFAULT_ALPHA}, as the service)")
            command.add_argument("--preserve-color", action="store_true", help="keep the colourised hues")
            command.add_argument("--styles-dir", type=Path, help="style gallery folder (default: the project's "
                                                                 "data/styles)")
    # `chromastyle --help` shows every option of every command, not only the command names.
    parser.epilog = "\n".join(f"{name} options:\n{_options_help(command)}" for name, command in sub.choices.items()) \
        + "\n" + EXAMPLES
    return parser


def _options_help(command: argparse.ArgumentParser) -> str:
    text = command.format_help()
    start = text.find("options:")
    end = text.find("examples:")
    return text[start + len("options:"):end if end > 0 else None].strip("\n") + "\n"


# -- checking everything before any work ------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files as given, folders as their image files (sorted), globs as their matches; each once."""
    from chromastyle.imaging import IMAGE_SUFFIXES  # the one list of image suffixes

    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise UsageError(f"input {pattern!r}: a folder with no image files")
            found += images
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise UsageError(f"input {pattern!r}: the pattern matches no file")
            found += matches
        else:
            raise UsageError(f"input {pattern!r}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def output_names(sources: list[Path], suffix: str, extension: str) -> list[str]:
    """`<stem>_<suffix>.<ext>`; inputs that would share a name get their own extension, then a
    short hash of their path, in the name: unique within the run, the same in every run."""
    def name(source: Path, level: int) -> str:
        stem = source.stem
        if level >= 1:
            stem += "-" + source.suffix.lstrip(".").lower()
        if level >= 2:
            stem += "-" + hashlib.sha256(str(source).encode()).hexdigest()[:6]
        return f"{stem}_{suffix}.{extension}"

    levels = [0] * len(sources)
    for level in (1, 2):
        names = [name(s, lv) for s, lv in zip(sources, levels)]
        clashes = {n for n in names if names.count(n) > 1}
        levels = [level if n in clashes else lv for n, lv in zip(names, levels)]
    return [name(s, lv) for s, lv in zip(sources, levels)]


def parse_weights(text: str | None, count: int) -> list[float] | None:
    if not text:
        return None
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise UsageError(f"--weights {text!r}: expected comma-separated numbers like 0.7,0.3") from None
    if len(weights) != count:
        raise UsageError(f"--weights {text!r}: {len(weights)} weight(s) for {count} --style option(s)")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not sum(weights) > 0:
        raise UsageError(f"--weights {text!r}: need finite non-negative numbers with a positive sum")
    return weights


def style_paths(styles: list[str], styles_dir: Path | None, root: Path | None) -> list[Path]:
    from chromastyle.data.styles import gallery_paths

    gallery_dir = styles_dir or (root / "data" / "styles" if root else None)
    paths = []
    for style in styles:
        if Path(style).is_file():
            paths.append(Path(style))
            continue
        try:
            gallery = gallery_paths(gallery_dir) if gallery_dir else {}
        except FileNotFoundError as err:
            raise UsageError(f"--style {style}: not a file, and {err}") from None
        if style not in gallery:
            names = ", ".join(gallery) or "no gallery found (pass --styles-dir)"
            raise UsageError(f"--style {style}: neither a file nor a gallery name ({names})")
        paths.append(gallery[style])
    return paths


def check_output_folder(folder: Path) -> None:
    """The output folder exists (or is created) and takes a file: found before the model loads."""
    import tempfile

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".chromastyle-write-check-"):
            pass
    except OSError as err:
        raise UsageError(f"--output {folder}: cannot write there ({err.strerror or err})") from None


def read_styles(paths: list[Path]) -> list:
    """Every style image decoded (H×W×3 uint8): an unreadable painting is a bad argument."""
    from chromastyle.imaging import ImageDecodeError, decode_image

    images = []
    for path in paths:
        try:
            images.append(decode_image(path))
        except (ImageDecodeError, OSError) as err:
            raise UsageError(f"--style {path}: {err}") from None
    return images


@dataclass(frozen=True)
class Guidance:
    """What the user tells the colouriser: hints (photo pixels) and a reference photo."""

    hints: list
    reference: object = None  # H×W×3 uint8, or None


def parse_hint_option(text: str):
    """'120,80,#3a7d2c' -> a Hint."""
    from chromastyle.model.hints import hint_from_hex

    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError("expected X,Y,#RRGGBB")
        x, y = float(parts[0]), float(parts[1])
        if not (math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0):
            raise ValueError("x and y must be finite pixel coordinates >= 0")
        return hint_from_hex(x, y, parts[2].strip())
    except ValueError as err:
        raise UsageError(f"--hint {text!r}: {err} (e.g. --hint 120,80,#3a7d2c)") from None


def read_guidance(args: argparse.Namespace, max_hints: int) -> Guidance:
    """--hint, --hints and --reference read and checked: a bad one is a bad argument, found before the model loads."""
    from chromastyle.imaging import ImageDecodeError, decode_image
    from chromastyle.model.hints import parse_hints_json

    hints = [parse_hint_option(text) for text in args.hint]
    if args.hints is not None:
        try:
            hints += parse_hints_json(args.hints.read_text(), max_hints)
        except OSError as err:
            raise UsageError(f"--hints {args.hints}: cannot read it ({err.strerror or err})") from None
        except ValueError as err:
            raise UsageError(f"--hints {args.hints}: {err}") from None
    if len(hints) > max_hints:
        raise UsageError(f"{len(hints)} hints: at most {max_hints} (package.max_hints)")
    reference = None
    if args.reference is not None:
        try:
            reference = decode_image(args.reference)
        except (ImageDecodeError, OSError) as err:
            raise UsageError(f"--reference {args.reference}: {err}") from None
    return Guidance(hints, reference)


def service_limits(root: Path | None):
    """The working-size bounds of the service (package.* of the project's params.yaml, else the
    defaults, which equal the committed params.yaml): the CLI gives the same bytes as the service."""
    from chromastyle.config import ConfigError, PackageConfig, load_params

    if root is not None and (root / "params.yaml").is_file():
        try:
            return load_params(root / "params.yaml").package
        except ConfigError as err:
            raise UsageError(str(err)) from None
    return PackageConfig()


def plan(args: argparse.Namespace, root: Path | None) -> tuple[list[Job], list, list[float] | None, Guidance]:
    """Check every argument, read the styles, hints and reference, and compute every output path; raise
    UsageError on the first problem. Nothing is loaded or written but the (empty) output folder."""
    styles, weights = [], None
    suffix = "colorized"
    guidance = Guidance([])
    if args.command == "colorize":
        guidance = read_guidance(args, service_limits(root).max_hints)
        if guidance.hints or guidance.reference is not None:
            suffix = "guided"
    if args.command == "stylize":
        if not (math.isfinite(args.alpha) and 0.0 <= args.alpha <= 1.0):
            raise UsageError(f"--alpha {args.alpha}: must lie in [0, 1]")
        paths = style_paths(args.style, args.styles_dir, root)
        weights = parse_weights(args.weights, len(paths))
        suffix = "+".join(p.stem for p in paths) + f"_a{args.alpha:g}_stylized"
    if args.model is not None and not (args.model / "model.safetensors").is_file():
        raise UsageError(f"--model {args.model}: not a model folder (no model.safetensors)")
    sources = expand_inputs(args.inputs)
    extension = {"jpeg": "jpg"}.get(args.format, args.format)
    jobs = [Job(s, args.output / n) for s, n in zip(sources, output_names(sources, suffix, extension))]
    existing = [job.target for job in jobs if job.target.exists()]
    if existing and not args.overwrite:
        raise UsageError(f"{existing[0]} exists ({len(existing)} output file(s) would be replaced); "
                         f"pass --overwrite to replace them, or choose another --output")
    if args.command == "stylize":
        styles = read_styles(paths)
    check_output_folder(args.output)
    return jobs, styles, weights, guidance


# -- the work -----------------------------------------------------------------------------------------
def load_model(args: argparse.Namespace, root: Path | None):
    """The model folder of --model, else the registry's champion; the log says which version, from where."""
    from chromastyle.model.onnx_runtime import load_for_inference

    if args.model is not None:
        log.info("model: %s (%s runtime)", args.model, args.runtime)
        return load_for_inference(args.model, args.runtime)
    from chromastyle import champion_cache, project

    uri = project.tracking_uri(root)
    missing = project.local_store_missing(uri)
    if uri is None or missing is not None:
        where = f"{missing}" if missing else "no project found"
        raise ModelNotFound(f"no model registry at {where} (looked from {Path.cwd()} upwards and where "
                            f"chromastyle is installed); run `make run` in the project, set "
                            f"MLFLOW_TRACKING_URI, or pass --model FOLDER")
    cached = champion_cache.lookup(uri, args.model_name)
    if cached is not None:  # the registry is unchanged since the last call: no MLflow at all (~3 s less)
        folder, version = cached
        log.info("model: %s version %s (champion) from %s, cached in %s (%s runtime)", args.model_name, version,
                 uri, folder, args.runtime)
        return load_for_inference(folder, args.runtime)
    key = champion_cache.registry_key(uri)  # before asking: a change made meanwhile shows next time
    import mlflow

    from chromastyle import registry

    mlflow.set_tracking_uri(uri)
    champion = registry.champion_info(args.model_name)
    if champion is None:
        raise ModelNotFound(f"no champion of registered model {args.model_name!r} in {uri}; "
                            f"run `make run`, or pass --model FOLDER")
    folder = champion_cache.store(uri, args.model_name, key, champion["version"],
                                  lambda target: registry.download_version(args.model_name, champion["version"], target))
    log.info("model: %s version %s (champion) from %s (%s runtime)", args.model_name, champion["version"], uri,
             args.runtime)
    return load_for_inference(folder, args.runtime)


class ModelNotFound(FileNotFoundError):
    """No model to run: nothing was done."""


def run(args: argparse.Namespace, jobs: list[Job], styles: list, weights, root: Path | None,
        guidance: Guidance | None = None) -> int:
    """Load the model, then each input through the service's code path (chromastyle.inference);
    an input that fails is counted and the others go on. Returns the number that failed."""
    from tqdm import tqdm

    from chromastyle.imaging import ImageDecodeError, decode_image, encode_image
    from chromastyle.inference import colorize_photo, stylize_photo

    limits = service_limits(root)
    try:
        model = load_model(args, root)
    except ModelNotFound:
        raise
    except (FileNotFoundError, ValueError, KeyError) as err:  # a broken model folder or registry entry
        raise ModelNotFound(f"cannot load the model: {err}") from None
    guidance = guidance or Guidance([])
    if (guidance.hints or guidance.reference is not None) and not model.cfg.hints:
        raise UsageError("--hint, --hints and --reference need a model trained with hints (train.hints: true); "
                         "this one was trained without")
    failures = 0
    bar = tqdm(jobs, unit="image", disable=len(jobs) < 2 or None)
    for job in bar:
        try:
            rgb = decode_image(job.source)
            if styles:
                out = stylize_photo(model, rgb, styles, limits, weights, args.alpha, args.preserve_color)
            else:
                out = colorize_photo(model, rgb, limits, guidance.hints, guidance.reference)
            data, media_type = encode_image(out, args.format)
            target = job.target
            if media_type != MEDIA_TYPES[args.format]:  # WebP past its encoder's limits: lossless PNG
                target = target.with_suffix(".png")
                log.warning("%s: cannot be encoded as %s; written as PNG to %s", job.source, args.format, target)
            target.write_bytes(data)
        except (ImageDecodeError, OSError, ValueError) as err:
            log.error("%s: %s (skipped)", job.source, err)
            failures += 1
            continue
        if bar.disable:
            log.info("%s -> %s", job.source, job.target)
    if failures:
        sys.stderr.write(f"chromastyle: {failures} of {len(jobs)} input(s) failed\n")
    return min(failures, 99)


def main(argv: list[str] | None = None) -> int:
    disable_telemetry()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    from chromastyle.project import find_project_root

    root = find_project_root()
    try:
        jobs, styles, weights, guidance = plan(args, root)
    except UsageError as err:
        sys.stderr.write(f"chromastyle: {err}\n")
        return USAGE_ERROR
    try:
        return run(args, jobs, styles, weights, root, guidance)
    except (ModelNotFound, UsageError) as err:  # before any input was touched: nothing done
        sys.stderr.write(f"chromastyle: {err}\n")
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
