"""`chromastyle` command: colourise or stylise image files with the champion (or a model folder).

    chromastyle colorize photo.jpg old/*.png -o out/
    chromastyle stylize photo.jpg --style greatwave --alpha 0.7 -o out/
    chromastyle stylize photo.jpg --style wave.jpg --style kandinky --weights 0.7,0.3 --preserve-color
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chromastyle.offline import disable_telemetry

log = logging.getLogger("chromastyle.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chromastyle", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("colorize", "colourise grayscale (or any) photos"),
                            ("stylize", "colourise, then repaint in the style of paintings")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("inputs", nargs="+", type=Path, help="image files")
        command.add_argument("-o", "--output", type=Path, default=Path("."), help="output folder (default: .)")
        command.add_argument("--model", type=Path, help="a model folder (model.safetensors + config.json); "
                                                        "default: the registry's champion")
        command.add_argument("--model-name", default="chromastyle", help="registered model name")
        if name == "stylize":
            command.add_argument("--style", action="append", required=True,
                                 help="a gallery name (e.g. greatwave) or an image file; repeat to mix styles")
            command.add_argument("--weights", help="comma-separated mixing weights, one per --style")
            command.add_argument("--alpha", type=float, default=1.0, help="content/style trade-off in [0, 1]")
            command.add_argument("--preserve-color", action="store_true", help="keep the colourised hues")
            command.add_argument("--styles-dir", type=Path, default=Path("data/styles"), help="style gallery")
    return parser


def load_model(args: argparse.Namespace):
    from chromastyle.model.integrated import Chromastyle

    if args.model is not None:
        return Chromastyle.load(args.model)
    from chromastyle import registry

    model = registry.load_champion(args.model_name)
    if model is None:
        raise FileNotFoundError(f"no champion of registered model {args.model_name!r} in the MLflow registry "
                                f"(run `make run`, or pass --model PATH)")
    return model


def resolve_styles(args: argparse.Namespace):
    """(style images as H×W×3 uint8, weights or None) from --style names/files and --weights."""
    from chromastyle.data.styles import gallery_paths
    from chromastyle.imaging import decode_image

    images = []
    for style in args.style:
        path = Path(style)
        if not path.is_file():
            gallery = gallery_paths(args.styles_dir)
            if style not in gallery:
                raise FileNotFoundError(f"--style {style}: neither a file nor a gallery name ({', '.join(gallery)})")
            path = gallery[style]
        images.append(decode_image(path))
    weights = None
    if args.weights:
        weights = [float(w) for w in args.weights.split(",")]
    return images, weights


def run(args: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    from chromastyle.imaging import ImageDecodeError, decode_image
    from chromastyle.inference import colorize_array, stylize_array

    model = load_model(args)
    styles, weights = resolve_styles(args) if args.command == "stylize" else ([], None)
    args.output.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in tqdm(args.inputs, unit="image", disable=len(args.inputs) < 2):
        try:
            rgb = decode_image(path)
        except (ImageDecodeError, OSError) as err:
            log.error("%s (skipped)", err)
            failures += 1
            continue
        # The same code path as the service and the evaluation (chromastyle.inference).
        out = colorize_array(model, rgb)
        if styles:
            out = stylize_array(model, out, styles, weights, args.alpha, args.preserve_color)
        target = args.output / f"{path.stem}_{args.command[:-1]}ed.png"
        Image.fromarray(out).save(target)
        log.info("%s -> %s", path, target)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    disable_telemetry()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "stylize" and not 0.0 <= args.alpha <= 1.0:
        sys.stderr.write(f"chromastyle: --alpha must lie in [0, 1], got {args.alpha}\n")
        return 2
    try:
        return run(args)
    except (FileNotFoundError, ValueError, KeyError) as err:
        sys.stderr.write(f"chromastyle: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
