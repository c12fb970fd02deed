"""Encoders: any input size gives a map of unit vectors; ImageNet weights load from a file or fail clearly."""

import dataclasses

import pytest
import torch
from torchvision.models import resnet18

from fnac_lib.config import ModelConfig, preset
from fnac_lib.model import (RESNET_INDEX, AVModel, AudioEncoder, VisualEncoder, WeightsUnavailableError,
                             resnet18_trunk, resnet_trunk)


@pytest.mark.parametrize("size, stride, expected", [(96, 32, 3), (128, 32, 4), (112, 16, 7), (96, 8, 12)])
def test_visual_map_size_follows_the_input(size, stride, expected):
    config = ModelConfig(embed_dim=16, width=8, blocks=(1, 1, 1, 1), output_stride=stride, imagenet_weights=None)
    maps = VisualEncoder(config).eval()(torch.randn(2, 3, size, size + 32))
    assert maps.shape == (2, 16, expected, expected + 32 // stride)
    assert torch.allclose(maps.norm(dim=1), torch.ones(2, expected, expected + 32 // stride), atol=1e-5)


def test_audio_embedding_is_a_unit_vector_for_any_spectrogram_size():
    encoder = AudioEncoder(ModelConfig(embed_dim=16, width=8, blocks=(1, 1, 1, 1), imagenet_weights=None)).eval()
    for frames in (50, 200):
        emb = encoder(torch.randn(3, 1, 64, frames))
        assert emb.shape == (3, 16)
        assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)


def test_full_size_model_is_resnet18_with_published_shapes():
    config = preset("paper", **{"model.imagenet_weights": None})
    model = AVModel(config.model, config.audio).eval()
    specs = model.frontend(torch.randn(1, model.frontend.num_samples))
    assert specs.shape == (1, 1, 257, 200)
    maps, emb = model.encode(torch.randn(1, 3, 224, 224), specs)
    assert maps.shape == (1, 512, 7, 7) and emb.shape == (1, 512)
    assert model.visual.dropout.p == 0.9


def test_imagenet_weights_load_from_a_file(tmp_path):
    reference = resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    trunk = resnet18_trunk(ModelConfig(imagenet_weights=str(path)), pretrained=True)
    assert torch.equal(trunk[0].weight, reference.conv1.weight)
    assert torch.equal(trunk[7][1].conv2.weight, reference.layer4[1].conv2.weight)


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="IMAGENET1K_V1"):
        VisualEncoder(ModelConfig(imagenet_weights=str(tmp_path / "absent.pth")))


def test_corrupt_weights_name_the_file(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="broken.pth"):
        VisualEncoder(ModelConfig(imagenet_weights=str(path)))


def test_weights_need_the_full_resnet18(tmp_path):
    with pytest.raises(ValueError, match="full ResNet-18"):
        dataclasses.replace(ModelConfig(imagenet_weights="torch-cache"), width=16)


def test_the_trunk_is_built_from_its_arguments_with_torchvisions_layout():
    """Width, blocks, input channels and output stride are constructor arguments; the parameter
    names follow torchvision's ResNet (``RESNET_INDEX``), so its weights and published checkpoints load."""
    for stride, side in ((32, 2), (16, 4), (8, 8)):
        trunk = resnet_trunk(8, (1, 1, 1, 1), in_channels=1, output_stride=stride)
        assert trunk(torch.randn(2, 1, 64, 64)).shape == (2, 64, side, side)
    full = resnet_trunk(64, (2, 2, 2, 2))
    names = {f"{RESNET_INDEX.get(k.split('.')[0], k.split('.')[0])}.{k.partition('.')[2]}"
             for k in resnet18().state_dict() if not k.startswith("fc.")}
    assert set(full.state_dict()) == names


def test_model_refuses_mismatched_batches():
    config = preset("ci")
    model = AVModel(config.model, config.audio)
    with pytest.raises(ValueError, match="2 images but 3 spectrograms"):
        model.encode(torch.randn(2, 3, 32, 32), torch.randn(3, 1, 64, 101))
    with pytest.raises(ValueError, match="2 images but 3 waveforms"):
        model(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.randn(3, model.frontend.num_samples))


def test_the_forward_pass_is_the_one_encode_path():
    """uint8 frames and waveforms in: the same features as normalising, the front end and the encoders."""
    from fnac_lib.augment import TrainAugment, normalize_images, random_crop_flip, spec_augment

    config = preset("ci")
    torch.manual_seed(0)
    model = AVModel(config.model, config.audio).eval()
    images = torch.randint(0, 256, (3, 3, 40, 40), dtype=torch.uint8)
    waves = torch.randn(3, model.frontend.num_samples)
    with torch.no_grad():
        direct = model.encode(normalize_images(images), model.frontend(waves))
        for got, want in zip(model(images, waves), direct):
            torch.testing.assert_close(got, want)
        augment = TrainAugment(32, 8, 10, torch.Generator().manual_seed(5), "within", "own")
        augmented = model(images, waves, augment)
        generator = torch.Generator().manual_seed(5)
        crops = normalize_images(random_crop_flip(images, 32, generator))
        masked = spec_augment(model.frontend(waves), 8, 10, generator, "within", "own")
        for got, want in zip(augmented, model.encode(crops, masked)):
            torch.testing.assert_close(got, want)
