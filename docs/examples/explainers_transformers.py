"""Hugging Face models: a ViT and a BERT classifier built from configs (random weights,
nothing downloaded), explained without options.

Run: python docs/examples/explainers_transformers.py
"""

import torch
import transformers

import xai

torch.manual_seed(0)
config = transformers.ViTConfig(
    image_size=32,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    num_labels=3,
)
vit = transformers.ViTForImageClassification(config).eval()
images = torch.rand(2, 3, 32, 32)

# Grad-CAM reads the logits of the ModelOutput and the last block's patch tokens as a grid
cam = xai.explain(vit, images, method="gradcam")
print("output:", cam.params["output"], "| layer:", cam.params["layer"])
print("layout:", cam.extras["layer_layout"], "| map:", tuple(cam.attributions.shape))
assert cam.params["layer"] == "vit.layers.1.layernorm_before"

# the same map with pytorch-grad-cam's reshape_transform written as an option
cam_again = xai.explain(
    vit,
    images,
    method="gradcam",
    layer="vit.layers.1.layernorm_before",
    reshape=lambda t: t[:, 1:].reshape(t.shape[0], 4, 4, -1).permute(0, 3, 1, 2),
)
assert torch.allclose(cam.attributions, cam_again.attributions)

# a return_dict=False tuple is read at its first element (the logits)
bert = transformers.BertForSequenceClassification(
    transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
).eval()


class OnEmbeddings(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeddings: torch.Tensor) -> tuple:
        return self.model(inputs_embeds=embeddings, return_dict=False)


ig = xai.explain(OnEmbeddings(bert), torch.randn(2, 6, 16), method="integrated_gradients")
print("BERT output read at:", ig.params["output"], "| attributions:", tuple(ig.attributions.shape))
