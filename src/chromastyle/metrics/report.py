"""The evaluation report: one Markdown page with the figures of every system and the sample grid."""

from __future__ import annotations

SYSTEM_COLUMNS = [("colourfulness", "CF"), ("colourfulness_category", "category"), ("delta_cf", "ΔCF ↓"),
                  ("frechet_offline", "Fréchet (offline) ↓"), ("kid_offline", "KID (offline) ↓"),
                  ("psnr", "PSNR ↑"), ("ssim", "SSIM ↑"), ("fid", "FID ↓")]
SYSTEMS = ("model", "champion", "grayscale")


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def evaluation_markdown(metrics: dict, grid_file: str) -> str:
    lines = ["# Evaluation", "",
             f"Test images: {metrics['test_images']}. Fréchet/KID features: `{metrics['frechet_backbone']}` "
             "(weight-free colour + structure statistics; not FID).",
             f"Standard FID: {'reported below' if 'fid_unavailable' not in metrics else 'not computed: ' + metrics['fid_unavailable']}.",
             "",
             "| system | " + " | ".join(title for _, title in SYSTEM_COLUMNS) + " |",
             "|---|" + "---|" * len(SYSTEM_COLUMNS)]
    for system in SYSTEMS:
        if system in metrics:
            lines.append(f"| {system} | " + " | ".join(_cell(metrics[system].get(k, "–")) for k, _ in SYSTEM_COLUMNS) + " |")
    lines += ["", "## Style transfer (style loss to the style image; lower = closer to the style)", "",
              "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in sorted(metrics["style"].items())]
    lines += ["", f"![sample grid]({grid_file})", ""]
    return "\n".join(lines)


# What `dvc exp show` / `dvc metrics diff` compare: a few numbers per system, named for what they are.
# Everything else (per-style losses, KID, categories, the FID note) is in reports/evaluation.json.
HEADLINE = {"model": ("psnr", "ssim", "delta_cf", "frechet_effnet_lite0", "semantic_agreement", "frechet_offline"),
            "grayscale": ("psnr", "delta_cf"),
            "champion": ("psnr", "delta_cf", "frechet_effnet_lite0", "frechet_offline")}
STYLE_HEADLINE = ("judge_style_loss_drop_alpha1", "decoder_reconstruction_l1")


def headline_metrics(metrics: dict) -> dict:
    """The DVC metrics file: numbers only, few and stable names (`test.model.psnr`, ...)."""
    def pick(section: dict) -> dict:
        return {system: {k: section[system][k] for k in keys if isinstance(section[system].get(k), (int, float))}
                for system, keys in HEADLINE.items() if system in section}

    headline = {"test": pick(metrics)}
    if "external" in metrics:
        headline["external"] = pick(metrics["external"])
    style = {k: metrics["style"][k] for k in STYLE_HEADLINE if k in metrics.get("style", {})}
    if style:
        headline["style"] = style
    return headline
