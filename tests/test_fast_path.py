"""The fast paths compute what the slow, obvious code computes.

* ``step.batch_losses`` (batched crop/flip, normalisation, spectrograms and masking on the device,
  one einsum for the similarity volume) equals a per-sample, per-pair loop written straight
  from the method's definition (README, "The losses"), in fp32, to 1e-5.
* bf16 autocast moves the forward pass and the losses by less than a documented tolerance.
* A cache returns the source dataset's samples, and the trainer's loader the same batches.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from fnac_lib.augment import normalize_images, random_crop_flip, spec_augment
from fnac_lib.constants import IMAGENET_MEAN, IMAGENET_STD
from fnac_lib.data.cache import CachedDataset, build_cache
from fnac_lib.config import RunConfig, apply_overrides, preset
from fnac_lib.device import decode_workers, loader_workers
from fnac_lib.losses import fnac_losses, mil_logits
from fnac_lib.data.sample import collate_samples
from fnac_lib import training
from fnac_lib.runs import load_model
from fnac_lib.shared_features import TrainingFeatures
from fnac_lib.step import batch_losses
from fnac_lib.training import Trainer, after_steps

# bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%). Through ~20 conv layers the unit
# feature vectors move by ~1e-2, and dividing by tau = 0.03 multiplies that by 33 in the logits.
# Measured here (fixed seed): features 0.016, MIL logits 0.48, base loss 2.3%, FNAC terms <= 5.2%.
# The limits leave 2-3x headroom; this is why the trainer keeps the loss arithmetic in fp32.
BF16_FEATURE_ATOL = 0.05
BF16_LOGIT_ATOL = 1.5
BF16_BASE_RTOL = 0.06
BF16_TERM_RTOL = 0.15


def plain_losses(img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float, fg_threshold: float) -> dict:
    """FNAC's terms (README, "The losses") one pair and one row at a time, in float64."""
    v, a = img_maps.double(), aud_emb.double()
    batch, _, height, width = v.shape
    logits = [[max(float(v[i, :, h, w] @ a[j]) for h in range(height) for w in range(width)) / tau
               for j in range(batch)] for i in range(batch)]

    def cross_entropy_diag(rows):
        return sum(math.log(sum(math.exp(x) for x in row)) - row[i] for i, row in enumerate(rows)) / batch

    def softmax(row):
        top = max(row)
        exps = [math.exp(x - top) for x in row]
        return [e / sum(exps) for e in exps]

    def mean_abs_softmax_difference(p, q):
        return sum(abs(x - y) for i in range(batch) for x, y in zip(softmax(p[i]), softmax(q[i]))) / batch**2

    def gram(vectors):
        return [[float(vectors[i] @ vectors[j]) / tau for j in range(batch)] for i in range(batch)]

    columns = [[logits[i][j] for i in range(batch)] for j in range(batch)]
    fg = []
    for i in range(batch):
        own = torch.stack([torch.stack([v[i, :, h, w] @ a[i] for w in range(width)]) for h in range(height)]) / tau
        own = (own - own.min()) / (own.max() - own.min() + 1e-8)
        fg.append(sum(v[i, :, h, w] for h in range(height) for w in range(width) if own[h, w] > fg_threshold)
                  / (height * width))
    adj_audio, adj_visual, adj_fg = gram(a), gram([v[i].mean(dim=(1, 2)) for i in range(batch)]), gram(fg)
    return {
        "base": cross_entropy_diag(logits) + cross_entropy_diag(columns),
        "fns_audio": mean_abs_softmax_difference(adj_audio, logits),
        "fns_visual": mean_abs_softmax_difference(adj_visual, logits),
        "tne": mean_abs_softmax_difference(adj_audio, adj_fg),
    }


def trainer_losses(trainer: Trainer, batch: dict, epoch: int) -> tuple[torch.Tensor, dict]:
    """What the trainer's step computes on ``batch``: its network, augmentation and settings."""
    parts = trainer.parts
    return batch_losses(parts.network, batch, epoch, trainer.config.train, parts.amp, parts.augment, parts.device)


def plain_inputs(trainer: Trainer, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop, flip, normalise, spectrogram and mask each sample on its own, with the same random draws."""
    size, audio = trainer.config.data.image_size, trainer.config.audio
    images, waves = batch["image"], batch["audio"]
    count, _, height, width = images.shape
    crop_draws = torch.rand(count, 3, generator=generator)  # the draws random_crop_flip makes
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    crops = []
    for i in range(count):
        top = int(crop_draws[i, 0] * (height - size + 1))
        left = int(crop_draws[i, 1] * (width - size + 1))
        crop = images[i, :, top:top + size, left:left + size]
        if crop_draws[i, 2] < 0.5:
            crop = crop.flip(2)
        crops.append(torch.stack([(crop[c].float() / 255.0 - mean[c]) / std[c] for c in range(3)]))
    specs = [trainer.parts.model.frontend(waves[i:i + 1])[0] for i in range(count)]  # each (1, F, T)
    mask_draws = [torch.rand(count, 2, generator=generator) for m in (audio.freq_mask, audio.time_mask) if m > 0]
    masked = []
    for i, spec in enumerate(specs):
        fill, out = spec.mean(), spec.clone()
        for draws, max_width, dim in zip(mask_draws, (audio.freq_mask, audio.time_mask), (1, 2)):
            length = spec.shape[dim]
            span = int(draws[i, 0] * (min(max_width, length) + 1))
            start = int(draws[i, 1] * (length - span + 1))
            out.narrow(dim, start, span).fill_(fill)
        masked.append(out)
    return torch.stack(crops), torch.stack(masked)


@pytest.fixture
def trainer(tmp_path, tone_squares, ci_config):
    config = apply_overrides(ci_config, {"model.visual_dropout": 0.0, "data.image_size": 28})
    assert config.audio.freq_mask and config.audio.time_mask  # both masks are exercised
    return Trainer(config, tmp_path / "run", tone_squares(16, image_size=36), progress=False)


def test_the_trainer_losses_equal_a_per_sample_per_pair_computation(trainer, tone_squares):
    batch = collate_samples([tone_squares(16, image_size=36)[i] for i in range(8)])
    epoch = trainer.config.train.warmup_epochs  # past the warm-up: every FNAC term is on
    start = trainer.parts.augment.generator.get_state()
    loss, terms = trainer_losses(trainer, batch, epoch)

    generator = torch.Generator().set_state(start)
    images, specs = plain_inputs(trainer, batch, generator)
    generator.set_state(start)
    audio = trainer.config.audio
    assert torch.equal(images, normalize_images(random_crop_flip(batch["image"], 28, generator)))
    batched_specs = spec_augment(trainer.parts.model.frontend(batch["audio"]), audio.freq_mask, audio.time_mask,
                                 generator, audio.mask_style, audio.mask_axes)
    torch.testing.assert_close(specs, batched_specs, rtol=1e-5, atol=1e-5)

    with torch.no_grad():
        img_maps, aud_emb = trainer.parts.model.encode(images, specs)
    train = trainer.config.train
    expected = plain_losses(img_maps, aud_emb, train.tau, train.fg_threshold)
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-5, abs=1e-6), name
    total = expected["base"] + train.term_weight * (expected["fns_audio"] + expected["fns_visual"] + expected["tne"])
    assert loss.item() == pytest.approx(total, rel=1e-5)


def test_the_batched_loss_functions_equal_the_plain_loop_on_random_features():
    gen = torch.Generator().manual_seed(3)
    img_maps = F.normalize(torch.randn(6, 16, 3, 5, generator=gen), dim=1)
    aud_emb = F.normalize(torch.randn(6, 16, generator=gen), dim=1)
    terms = fnac_losses(img_maps, aud_emb, tau=0.03, fg_threshold=0.6, fg_eps=1e-8)
    for name, value in plain_losses(img_maps, aud_emb, 0.03, 0.6).items():
        assert terms[name].item() == pytest.approx(value, rel=1e-5, abs=1e-7), name


def test_bf16_autocast_stays_within_the_documented_tolerance(trainer, tone_squares):
    batch = collate_samples([tone_squares(16, image_size=36)[i] for i in range(8)])
    images = batch["image"][:, :, :28, :28].float() / 255.0 - 0.5
    model = trainer.parts.model
    specs = model.frontend(batch["audio"])
    model.train()
    with torch.no_grad():
        fp32 = model.encode(images, specs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = [t.float() for t in model.encode(images, specs)]
    for full, half in zip(fp32, bf16):
        assert (full - half).abs().max() < BF16_FEATURE_ATOL
    exact, approx = fnac_losses(*fp32, 0.03, 0.6, 1e-8), fnac_losses(*bf16, 0.03, 0.6, 1e-8)
    assert (mil_logits(*fp32, 0.03) - mil_logits(*bf16, 0.03)).abs().max() < BF16_LOGIT_ATOL
    assert approx["base"].item() == pytest.approx(exact["base"].item(), rel=BF16_BASE_RTOL)
    for name in ("fns_audio", "fns_visual", "tne"):
        assert approx[name].item() == pytest.approx(exact[name].item(), rel=BF16_TERM_RTOL, abs=1e-3), name


def test_a_cache_feeds_the_trainer_the_source_batches(tmp_path, tone_squares, ci_config):
    data = tone_squares(24)
    cached = CachedDataset(build_cache(data, tmp_path / "cache", audio_dtype="float32", num_workers=0, progress=False))
    for i in range(len(data)):
        source, copy = data[i], cached[i]
        assert all(torch.equal(copy[k], source[k]) for k in ("image", "audio", "gt_map", "boxes", "classes"))
        assert [copy[k] for k in ("label", "on_screen", "id")] == [source[k] for k in ("label", "on_screen", "id")]
    direct = Trainer(ci_config, tmp_path / "a", data, progress=False).loader(epoch=1)
    fast = Trainer(ci_config, tmp_path / "b", cached, progress=False).loader(epoch=1)
    for slow_batch, fast_batch in zip(direct, fast, strict=True):
        assert slow_batch["id"] == fast_batch["id"]
        for key in ("image", "audio", "gt_map", "label", "on_screen"):
            assert torch.equal(slow_batch[key], fast_batch[key]), key


def test_amp_and_channels_last_can_be_switched_on_for_any_device(tmp_path, tone_squares, ci_config):
    """The CUDA fast path (bf16 autocast, NHWC convolutions) runs on the CPU when asked, so its
    code is exercised without a GPU; "auto" keeps CPU runs in fp32 and NCHW."""
    base = apply_overrides(ci_config, {"model.visual_dropout": 0.0, "data.image_size": 28})
    data = tone_squares(16, image_size=36)
    fast = Trainer(apply_overrides(base, {"train.amp": True, "train.channels_last": True}), tmp_path / "fast", data,
                   progress=False)
    plain = Trainer(base, tmp_path / "plain", data, progress=False)
    assert (fast.parts.amp, plain.parts.amp) == (True, False)
    kernels = [p for p in fast.parts.model.parameters() if p.ndim == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    assert not all(p.is_contiguous(memory_format=torch.channels_last) for p in plain.parts.model.parameters()
                   if p.ndim == 4)

    batch = collate_samples([data[i] for i in range(8)])
    epoch = base.train.warmup_epochs
    _, approx = trainer_losses(fast, batch, epoch)
    _, exact = trainer_losses(plain, batch, epoch)  # same seed: same weights and augmentation draws
    assert approx["base"].item() != exact["base"].item()  # autocast did run
    assert approx["base"].item() == pytest.approx(exact["base"].item(), rel=BF16_BASE_RTOL)
    for name in ("fns_audio", "fns_visual", "tne"):
        assert approx[name].item() == pytest.approx(exact[name].item(), rel=BF16_TERM_RTOL, abs=1e-3), name

    fast.fit(after_steps(2))
    model, _ = load_model(fast.last_path, "cpu")  # an NHWC bf16 run's checkpoint loads as a plain model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fast.parts.model.state_dict().values()))

    with pytest.raises(ValueError, match="train.amp: 'fp16' has no meaning; it must be true or false or one of"):
        apply_overrides(base, {"train.amp": "fp16"})  # refused before a Trainer is built


@pytest.mark.parametrize("channels_last", [False, True])
def test_every_convolution_runs_in_the_models_layout(tmp_path, tone_squares, ci_config, channels_last):
    """The crops come out of one gather, channels-last in memory; the forward pass lays them out as
    the model's weights, so no layer of an NCHW model runs NHWC (and the reverse)."""
    config = apply_overrides(ci_config, {"train.channels_last": channels_last})
    data = tone_squares(16)
    trainer = Trainer(config, tmp_path / "run", data, progress=False)
    layouts = []

    def record(module, inputs, output):
        layouts.append(output.is_contiguous(memory_format=torch.channels_last if channels_last
                                            else torch.contiguous_format))

    for module in trainer.parts.model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.kernel_size != (1, 1):
            module.register_forward_hook(record)
    trainer_losses(trainer, collate_samples([data[i] for i in range(8)]), epoch=0)
    assert layouts and all(layouts)


def test_loader_workers_auto_is_none_on_the_cpu_and_several_on_cuda(tmp_path, tone_squares, ci_config, monkeypatch):
    """On the CPU a busy loader worker takes a core from the compute threads (benchmarks/RESULTS.md),
    so "auto" loads in the training process there; on CUDA the workers decode while the GPU computes."""
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert (loader_workers("auto", "cpu"), loader_workers("auto", "cuda"), loader_workers(3, "cpu")) == (0, 8, 3)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert loader_workers("auto", torch.device("cuda", 1)) == 4
    assert (decode_workers("auto"), decode_workers(0), decode_workers(2)) == (None, None, 2)  # None: every core
    assert preset("paper").data.num_workers == "auto" and RunConfig().data.num_workers == "auto"
    config = apply_overrides(ci_config, {"data.num_workers": "auto"})
    assert Trainer(config, tmp_path / "run", tone_squares(16), progress=False).loader(epoch=0).num_workers == 0
    assert apply_overrides(ci_config, {"data.num_workers": "2"}).data.num_workers == 2  # command-line text
    with pytest.raises(ValueError, match=r"data.num_workers: 'many' has no meaning; it must be an integer in "
                                         r"\[0, 256\] or one of 'auto'"):
        apply_overrides(ci_config, {"data.num_workers": "many"})


def test_runs_of_one_seed_share_their_frozen_trunks_features_bit_for_bit(tmp_path, tone_squares, ci_config):
    """The second run of a seed reads every batch's frozen-trunk features from the first and trains
    the very weights it trains alone; a trained trunk, a GPU or a compiled model are left alone."""
    config = apply_overrides(ci_config, {"model.freeze_visual": True, "train.method": "ezvsl"})
    data, shared = tone_squares(32), TrainingFeatures()
    first = training.train(config, tmp_path / "ezvsl", data, progress=False, shared=shared)
    steps = first.state.global_step
    assert (shared.hits, shared.misses, len(shared.kept)) == (0, steps, steps)
    fnac = apply_overrides(config, {"train.method": "fnac"})
    together = training.train(fnac, tmp_path / "fnac", data, progress=False, shared=shared)
    assert (shared.hits, shared.misses) == (steps, steps)  # every batch of the second run was read
    alone = training.train(fnac, tmp_path / "alone", data, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(together.parts.model.state_dict().values(),
                                                   alone.parts.model.state_dict().values(), strict=True))
    assert together.state.history == alone.state.history
    shared.clear()
    assert (shared.kept, shared.kept_bytes) == ({}, 0)

    trained_trunk = Trainer(ci_config, tmp_path / "trained", data, progress=False).parts.model
    frozen = Trainer(config, tmp_path / "frozen", data, progress=False).parts.model
    assert not shared.attach(trained_trunk, torch.device("cpu"))
    assert not shared.attach(frozen, torch.device("cuda")) and not shared.attach(frozen, "cpu", single_process=False)
    assert frozen.visual.trunk_features is None
    compiled = Trainer(apply_overrides(config, {"train.compile": True}), tmp_path / "compiled", data,
                       progress=False, shared=shared).parts.model
    assert compiled.visual.trunk_features is None


def test_nhwc_convolutions_give_the_nchw_losses_to_rounding(tmp_path, tone_squares, ci_config):
    """The paper preset's ``train.channels_last: true`` (about 10% faster on a CPU) is a memory layout:
    the same weights and draws give the NCHW run's losses and gradients to float32 rounding."""
    data = tone_squares(16, image_size=36)
    config = apply_overrides(ci_config, {"data.image_size": 28, "train.method": "fnac"})
    nchw = Trainer(config, tmp_path / "nchw", data, progress=False)
    nhwc = Trainer(apply_overrides(config, {"train.channels_last": True}), tmp_path / "nhwc", data, progress=False)
    batch = collate_samples([data[i] for i in range(8)])
    epoch = config.train.warmup_epochs  # every term on
    terms, grads = [], []
    for trainer in (nchw, nhwc):
        loss, losses = trainer_losses(trainer, batch, epoch)
        loss.backward()
        terms.append(losses)
        grads.append([p.grad.contiguous() for p in trainer.parts.model.parameters() if p.grad is not None])
    for name in ("base", "fns_audio", "fns_visual", "tne"):
        assert terms[1][name].item() == pytest.approx(terms[0][name].item(), rel=1e-5, abs=1e-7), name
    assert len(grads[0]) == len(grads[1]) > 0
    for plain, nhwc_grad in zip(*grads):  # summed in another order: 4e-6 of the gradient measured here
        assert (nhwc_grad - plain).norm() <= 2e-5 * plain.norm() + 1e-8, (nhwc_grad - plain).norm() / plain.norm()
