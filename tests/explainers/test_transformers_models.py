"""Models nobody on this project wrote: Hugging Face ``transformers`` models built from tiny
configs (random weights, nothing downloaded).

- Outputs: ``ModelOutput`` objects and ``return_dict=False`` tuples are read without options;
  ambiguous tuples stay an error naming ``output``.
- Grad-CAM on vision transformers equals pytorch-grad-cam's ``GradCAM`` with its
  ``reshape_transform`` recipe (written out below: pytorch-grad-cam imports torchvision, which
  has no build for this torch), after the same min-max normalisation; CNNs (ResNet, ConvNeXt)
  equal captum's ``LayerGradCam``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import nn

import xai

transformers = pytest.importorskip("transformers")

# pytorch-grad-cam's tolerance in the issue: its float32 numpy maps against ours
RECIPE_ATOL = 1e-4


def vit(image: int = 32, patch: int = 8, layers: int = 2, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=image,
        patch_size=patch,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=classes,
    )
    return transformers.ViTForImageClassification(config).eval()


def deit() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.DeiTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
    )
    return transformers.DeiTForImageClassificationWithTeacher(config).eval()


def swin() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.SwinConfig(
        image_size=32,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1],
        num_heads=[2, 2],
        window_size=2,
        num_labels=3,
    )
    return transformers.SwinForImageClassification(config).eval()


def resnet() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3
    )
    return transformers.ResNetForImageClassification(config).eval()


def convnext() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.ConvNextConfig(
        num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3, patch_size=2
    )
    return transformers.ConvNextForImageClassification(config).eval()


def images(n: int = 2, size: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(7))


def vit_reshape(height: int, width: int, leading: int = 1) -> Callable[[torch.Tensor], Any]:
    """pytorch-grad-cam's ``vit_reshape_transform`` (utils/reshape_transforms.py)."""

    def transform(tensor: torch.Tensor) -> torch.Tensor:
        result = tensor[:, leading:, :].reshape(tensor.size(0), height, width, tensor.size(2))
        return result.transpose(2, 3).transpose(1, 2)

    return transform


def pytorch_grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    reshape: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """pytorch-grad-cam's ``GradCAM(model, [layer], reshape_transform=reshape)(x)``, written
    out: activations and output gradients of the layer reshaped, weights = mean gradient over
    space, ReLU of the weighted sum, then ``scale_cam_image`` (min-max to [0, 1], resized to
    the input; cv2's bilinear resize is torch's ``align_corners=False`` bilinear when
    upscaling). Targets: the predicted class of each sample, summed as its ``forward`` does.

    Compared through :func:`min_max`: bilinear resizing commutes with affine maps, so
    ``min_max(resize(min_max(m)))`` is ``min_max(resize(m))`` for our map ``m`` up to float
    rounding."""
    saved: dict[str, torch.Tensor] = {}

    def keep(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        saved["activation"] = output
        output.register_hook(lambda grad: saved.__setitem__("gradient", grad))

    handle = layer.register_forward_hook(keep)
    try:
        logits = model(x).logits
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
    finally:
        handle.remove()
    model.zero_grad()
    activation = reshape(saved["activation"].detach()).numpy()
    gradient = reshape(saved["gradient"]).numpy()
    weights = gradient.mean(axis=(2, 3))
    cam = torch.from_numpy((weights[:, :, None, None] * activation).sum(axis=1)).clamp_min(0)
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    cam = cam / (1e-7 + cam.amax(dim=(1, 2), keepdim=True))
    resized = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)
    return min_max(resized)


def min_max(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    return ((flat - low) / (high - low).clamp_min(1e-12)).view_as(maps)


# ----------------------------------------------------------------------------- model outputs


def test_model_output_objects_are_explained_on_their_logits() -> None:
    model, x = vit(), images()
    automatic = xai.explain(model, x, method="integrated_gradients", n_steps=8)
    explicit = xai.explain(model, x, method="integrated_gradients", n_steps=8, output="logits")
    assert automatic.params["output"] == "logits"
    torch.testing.assert_close(automatic.attributions, explicit.attributions, rtol=0, atol=0)
    assert torch.equal(automatic.target, model(x).logits.argmax(1))


class TupleBert(nn.Module):
    """BERT on embeddings with ``return_dict=False``: a tuple (logits, hidden states ...), or
    (loss, logits) when labels are given."""

    def __init__(self, hidden_states: bool = False, labels: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        config = transformers.BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=16,
            num_labels=2,
        )
        self.bert = transformers.BertForSequenceClassification(config).eval()
        self.hidden_states = hidden_states
        self.labels = labels

    def forward(self, embeddings: torch.Tensor) -> Any:
        labels = torch.zeros(embeddings.shape[0], dtype=torch.long) if self.labels else None
        return self.bert(
            inputs_embeds=embeddings,
            labels=labels,
            output_hidden_states=self.hidden_states,
            return_dict=False,
        )


def test_hugging_face_tuples_are_read_at_their_first_element() -> None:
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(1))
    for model in (TupleBert(), TupleBert(hidden_states=True)):
        expl = xai.explain(model, x, method="integrated_gradients", n_steps=8)
        assert expl.params["output"] == 0
        again = xai.explain(model, x, method="integrated_gradients", n_steps=8, output=0)
        torch.testing.assert_close(expl.attributions, again.attributions, rtol=0, atol=0)


def test_a_loss_beside_the_logits_is_ambiguous() -> None:
    x = torch.randn(2, 6, 16)
    with pytest.raises(TypeError, match=r"output: the model returned a tuple .* ambiguous"):
        xai.explain(TupleBert(labels=True), x, method="integrated_gradients", n_steps=8)
    expl = xai.explain(
        TupleBert(labels=True), x, method="integrated_gradients", n_steps=8, output=1
    )
    assert expl.attributions.shape == x.shape


# ----------------------------------------------------------------------------- ViT Grad-CAM


@pytest.mark.parametrize(("size", "patch"), [(32, 8), (48, 8)])
def test_vit_gradcam_equals_pytorch_grad_cam_recipe(size: int, patch: int) -> None:
    model, x = vit(image=size, patch=patch), images(3, size)
    grid = size // patch
    expl = xai.explain(model, x, method="gradcam")
    # the last block's norm before attention: pytorch-grad-cam's documented ViT target layer
    assert expl.params["layer"] == "vit.layers.1.layernorm_before"
    assert expl.extras["layer_shape"] == [grid, grid]
    assert "after 1 leading token" in expl.extras["layer_layout"]
    expected = pytorch_grad_cam(
        model, model.vit.layers[1].layernorm_before, x, vit_reshape(grid, grid)
    )
    torch.testing.assert_close(min_max(expl.attributions), expected, rtol=0, atol=RECIPE_ATOL)


def test_vit_gradcam_with_an_explicit_reshape_equals_the_automatic_grid() -> None:
    model, x = vit(), images()
    automatic = xai.explain(model, x, method="gradcam")
    explicit = xai.explain(
        model,
        x,
        method="gradcam",
        layer="vit.layers.1.layernorm_before",
        reshape=vit_reshape(4, 4),
    )
    torch.testing.assert_close(automatic.attributions, explicit.attributions)
    assert explicit.extras["layer_layout"] == "reshape"


def test_vit_gradcam_on_a_named_block_reads_its_tokens() -> None:
    # the case: "outputs (1, 17, 32), not a spatial map" and no way forward
    model, x = vit(), images()
    expl = xai.explain(model, x, method="gradcam", layer="vit.layers.0.layernorm_before")
    expected = pytorch_grad_cam(model, model.vit.layers[0].layernorm_before, x, vit_reshape(4, 4))
    torch.testing.assert_close(min_max(expl.attributions), expected, rtol=0, atol=RECIPE_ATOL)


def test_deit_drops_class_and_distillation_tokens() -> None:
    model, x = deit(), images()
    expl = xai.explain(model, x, method="gradcam")
    assert expl.params["layer"] == "deit.layers.1.layernorm_before"
    assert "after 2 leading token" in expl.extras["layer_layout"]
    expected = pytorch_grad_cam(
        model, model.deit.layers[1].layernorm_before, x, vit_reshape(4, 4, leading=2)
    )
    torch.testing.assert_close(min_max(expl.attributions), expected, rtol=0, atol=RECIPE_ATOL)


def test_swin_gradcam_uses_the_final_norm_over_every_token() -> None:
    model, x = swin(), images()
    expl = xai.explain(model, x, method="gradcam")
    assert expl.params["layer"] == "swin.layernorm"  # the head pools every token
    assert expl.extras["layer_shape"] == [4, 4]
    recipe = pytorch_grad_cam(model, model.swin.layernorm, x, vit_reshape(4, 4, leading=0))
    torch.testing.assert_close(min_max(expl.attributions), recipe, rtol=0, atol=RECIPE_ATOL)


def test_tokens_without_a_grid_ask_for_reshape() -> None:
    class Tokens(nn.Module):
        """17 tokens on a non-square input: no grid of the input's aspect."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(3, 8)
            self.norm = nn.LayerNorm(8)
            self.head = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.embed(x.flatten(2)[:, :, :17].transpose(1, 2))
            return self.head(self.norm(tokens).mean(1))

    with pytest.raises(ValueError, match=r"layer: 'norm' outputs \(1, 17, 8\).*reshape="):
        xai.explain(Tokens(), torch.randn(2, 3, 5, 7), method="gradcam", layer="norm")


def test_bad_reshape_is_named() -> None:
    model, x = vit(), images()
    layer = "vit.layers.1.layernorm_before"
    with pytest.raises(TypeError, match=r"reshape: expected None or a callable"):
        xai.explain(model, x, method="gradcam", layer=layer, reshape="vit")
    with pytest.raises(ValueError, match=r"reshape: expected it to turn the layer's output"):
        xai.explain(model, x, method="gradcam", layer=layer, reshape=lambda t: t)


# ----------------------------------------------------------------------------- CNNs


@pytest.mark.parametrize("build", [resnet, convnext])
def test_hugging_face_cnns_equal_captum(build: Callable[[], nn.Module]) -> None:
    model, x = build(), images()
    expl = xai.explain(model, x, method="gradcam")
    layer = model.get_submodule(expl.params["layer"])
    assert expl.extras["layer_layout"].startswith("channels-first")
    captum = LayerGradCam(lambda inputs: model(inputs).logits, layer).attribute(
        x, target=expl.target, relu_attributions=True
    )
    captum = F.interpolate(captum, size=x.shape[2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(expl.attributions, captum.detach(), rtol=1e-5, atol=1e-6)
