"""Evaluation scores each batch on the device and gets the numbers the whole map set gives.

``predict`` keeps only per-sample scores on the device and summarises them at the end; these
tests compute every protocol the plain way, from the full set of maps at once, and compare.
"""

import copy

import pytest
import torch

from fnac_lib.data.cache import CachedDataset, build_cache
from fnac_lib.efficientnet import TappedTrunk
from fnac_lib.evaluation import (ScoredModel, clip_index, eval_loader, evaluate, predict, predict_together,
                                 summarize_scores)
from fnac_lib.localization import object_guided
from fnac_lib.metrics import batch_ciou, pointing_game, summarize
from fnac_lib.model import AVModel
from fnac_lib.protocols import (av_value_range, fscore_from_curves, localisation_to_mask_logits, open_set_scores,
                                s4_fscore, s4_miou)
from fnac_lib.shared_features import weights_digest

FRAMES_PER_CLIP = 3


class ScoredSquares(torch.utils.data.Dataset):
    """Tone squares with masks and clips of three frames, or with silent pairs (empty gt)."""

    def __init__(self, base, silent_every: int = 0) -> None:
        self.base, self.silent_every = base, silent_every

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        sample = dict(self.base[index])
        if self.silent_every:
            if index % self.silent_every == 0:
                sample["on_screen"], sample["gt_map"] = False, torch.zeros_like(sample["gt_map"])
        else:
            sample["mask"] = sample["gt_map"].clone()
        return sample

    @property
    def clip_names(self) -> list[str]:
        return [f"clip{i // FRAMES_PER_CLIP}" for i in range(len(self))]


@pytest.fixture
def model(ci_config):
    torch.manual_seed(0)
    return AVModel(ci_config.model, ci_config.audio).eval()


def whole_set_scores(preds) -> dict:
    """Every protocol from the kept maps, one call over the whole set (no per-batch scoring)."""
    result = {}
    maps = {"av": preds.av, "obj": preds.objectness, "av_ogl": object_guided(preds.av, preds.objectness, preds.alpha)}
    if bool(preds.on_screen.all()):
        for name, m in maps.items():
            result[name] = {**summarize(batch_ciou(m, preds.gt).numpy()),
                            "pointing_game": float(pointing_game(m, preds.gt).mean())}
    else:
        plain = open_set_scores(preds.av_raw, preds.gt, preds.on_screen, av_value_range(0.03))
        result["open_set"] = {"AP": plain["AP"], "max_F1": plain["max_F1"], "n": len(preds.ids)}
    if preds.masks is not None:
        result["s4"] = {}
        for name in ("av", "av_ogl"):
            logits = localisation_to_mask_logits(maps[name], tuple(preds.masks.shape[1:]))
            result["s4"][name] = {"mIoU": s4_miou(logits, preds.masks), "n": len(preds.ids),
                                  "F_score": s4_fscore(logits, preds.masks, frames_per_clip=FRAMES_PER_CLIP)}
    return result


@pytest.mark.parametrize("silent_every", [0, 4])
def test_batch_by_batch_scores_equal_the_whole_set_computation(model, tone_squares, silent_every):
    data = ScoredSquares(tone_squares(15), silent_every)
    scores, preds = evaluate(model, data, tau=0.03, batch_size=4, objectness_trunk=model.visual.trunk, alpha=0.3)
    expected = whole_set_scores(preds)
    assert set(scores) == set(expected)
    for key, values in expected.items():
        if key == "s4":
            for name, metrics in values.items():
                assert scores["s4"][name] == pytest.approx(metrics, rel=1e-6, abs=1e-9), name
        else:
            assert scores[key] == pytest.approx(values, rel=1e-6, abs=1e-9), key
    # the batch size changes nothing, and neither does dropping the maps
    again, lean = evaluate(model, data, tau=0.03, batch_size=15, objectness_trunk=model.visual.trunk, alpha=0.3, keep_maps=False)
    assert again == scores
    assert lean.av is None and lean.gt is None and lean.objectness is None and lean.masks is None
    assert lean.img_emb.shape == preds.img_emb.shape and lean.ids == preds.ids


def test_clips_come_from_the_dataset_and_group_frames_wherever_they_sit(tone_squares, tmp_path):
    squares = ScoredSquares(tone_squares(7))
    assert clip_index(squares).tolist() == [0, 0, 0, 1, 1, 1, 2]
    assert clip_index(CachedDataset(build_cache(squares, tmp_path / "cache", num_workers=0, progress=False))
                      ).tolist() == [0, 0, 0, 1, 1, 1, 2]  # a cache keeps the clips
    assert clip_index(tone_squares(7)) is None
    gen = torch.Generator().manual_seed(2)
    curves, has_object = torch.rand(5, 7, generator=gen, dtype=torch.float64), torch.tensor([1, 1, 0, 1, 1]).bool()
    clips = torch.tensor([0, 1, 0, 1, 0])
    first = curves[[0, 4]].mean(0).max()  # clip 0: frames 0, 2 (empty mask: left out) and 4
    second = curves[[1, 3]].mean(0).max()
    assert fscore_from_curves(curves, has_object, clips) == pytest.approx(float(first + second) / 2, abs=1e-12)
    assert fscore_from_curves(curves, has_object) == pytest.approx(float(curves[has_object].mean(0).max()), abs=1e-12)


def test_localisation_is_summarised_only_where_every_pair_is_on_screen(model, tone_squares):
    _, preds = evaluate(model, ScoredSquares(tone_squares(8), silent_every=2), tau=0.03, batch_size=8)
    assert set(summarize_scores(preds.scores)) == {"open_set"}
    assert summarize_scores(preds.scores, protocols=("localization",)) == {}
    with pytest.raises(ValueError, match="unknown protocols"):
        summarize_scores(preds.scores, protocols=("cIoU",))


def test_models_that_share_a_trunk_compute_its_features_once_per_batch_and_score_as_alone(ci_config, tone_squares):
    torch.manual_seed(0)
    first, second = (AVModel(ci_config.model, ci_config.audio).eval() for _ in range(2))
    second.visual.trunk.load_state_dict(first.visual.trunk.state_dict())  # one frozen trunk, two heads
    network = torch.nn.Conv2d(3, 6, kernel_size=4, stride=4).eval()  # an objectness network both read
    calls = []
    for name, module in (("first", first.visual.trunk), ("second", second.visual.trunk), ("objectness", network)):
        module.register_forward_hook(lambda *_, name=name: calls.append(name))
    loader = eval_loader(ScoredSquares(tone_squares(12)), batch_size=4)  # three batches
    shared = predict_together([ScoredModel(model, 0.03, network, alpha=0.3) for model in (first, second)], loader)
    assert sorted(calls) == ["first"] * 3 + ["objectness"] * 3
    for model, preds in zip((first, second), shared):
        alone = predict(model, loader, tau=0.03, objectness_trunk=network, alpha=0.3)
        for field in ("av", "av_raw", "objectness", "img_emb", "aud_emb", "masks"):
            assert torch.equal(getattr(preds, field), getattr(alone, field)), field
        assert preds.summary() == alone.summary()
    assert not torch.equal(shared[0].av, shared[1].av)  # the heads differ: only the trunk is shared


def test_a_weights_digest_tells_trunks_apart_by_weights_and_by_layers(model):
    trunk = model.visual.trunk
    assert weights_digest(copy.deepcopy(trunk)) == weights_digest(trunk)
    strided = copy.deepcopy(trunk)
    strided[0].stride = (1, 1)  # the same weights, another function
    assert weights_digest(strided) != weights_digest(trunk)
    # one network's stages, read at the last stage or at the last two side by side: same weights and
    # repr (the visual trunk and the objectness network of the CPU demo), other features
    stages = TappedTrunk(torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 4, 1), taps=1)
    tapped = copy.deepcopy(stages)
    tapped.taps = 2
    assert repr(tapped) == repr(stages) and weights_digest(tapped) != weights_digest(stages)
    changed = copy.deepcopy(trunk)
    with torch.no_grad():
        changed[0].weight[0, 0, 0, 0] += 1
    assert weights_digest(changed) != weights_digest(trunk)
