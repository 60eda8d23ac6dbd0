"""Text: explain the reference text model's sentences with every method that reads token ids,
score the explanations against the keyword masks, and write figures and HTML.

Run: python docs/examples/text_explanations.py [OUT_DIR]
"""

import sys
from pathlib import Path

import reference_models
import xai
from reference_models.datasets import decode_tokens, encode_text

out = Path(sys.argv[1] if len(sys.argv) > 1 else "text_explanations")
out.mkdir(parents=True, exist_ok=True)

ref = reference_models.load("keywords_text_cnn")
ids, labels, keywords, mask = (t[:20] for t in ref.data["test"].tensors)
kwargs = {"attention_mask": mask}

# one call per method, the same result type: one value per token, padding exactly 0
methods = {
    "integrated_gradients": {},
    "occlusion": {},
    "lime": {"num_samples": 500, "seed": 0},
    "shap": {"algorithm": "kernel", "seed": 0},
}
for method, options in methods.items():
    expl = xai.explain(ref.model, ids, method=method, model_kwargs=kwargs,
                       tokens=decode_tokens(ids), **options)
    assert expl.attributions.shape == ids.shape
    assert expl.attributions[mask == 0].eq(0).all()
    quality = xai.evaluate_explanation(
        ref.model, expl, metrics=["pointing_game_score", "relevance_mass_score"], masks=keywords
    )
    means = quality.means
    print(f"{method:<22} pointing game {means['pointing_game_score']:.2f}  "
          f"relevance mass {means['relevance_mass_score']:.2f}")
    assert means["pointing_game_score"] >= 0.9
    expl.extras["class_names"] = ref.info.class_names
    expl.plot(0).savefig(out / f"{method}.png", dpi=100)
    (out / f"{method}.html").write_text(expl.to_html(0), encoding="utf-8")

# a typed sentence, with the reference vocabulary's tokenizer
typed, typed_mask = encode_text(["after the match the team sang a song about the goal"])
expl = xai.explain(ref.model, typed, model_kwargs={"attention_mask": typed_mask},
                   tokens=decode_tokens(typed))
word = expl.tokens[0][int(expl.attributions[0].argmax())]
print("typed sentence: class", ref.info.class_names[int(expl.target[0])], "| top token:", word)
print("wrote", sorted(p.name for p in out.iterdir()))
