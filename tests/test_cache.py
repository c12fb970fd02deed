"""The decoded-once cache: exact round trips, the batch fast path, atomic builds, named errors."""

import json
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fnac_lib import training
from fnac_lib.data.cache import CachedDataset, build_cache, cache_dataset, verify_cache
from fnac_lib.data.sample import Batch, PreCollated, collate
from fnac_lib.errors import CacheError
from fnac_lib.config import apply_overrides
from fnac_lib.data.sample import collate_samples


class Annotated(torch.utils.data.Dataset):
    """Ragged boxes and classes, a Flickr-style fractional gt and an AVSBench-style mask."""

    def __init__(self, length: int = 12, size: int = 16, fail_at: int | None = None) -> None:
        self.length, self.size, self.fail_at = length, size, fail_at
        self.sample_rate = 8000

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if index == self.fail_at:
            raise OSError(f"cannot decode sample {index}")
        gen = torch.Generator().manual_seed(index)
        gt = torch.zeros(self.size, self.size)
        gt[2:8, 2:8] = 0.5  # one annotator
        gt[4:6, 4:6] = 1.0  # two annotators
        mask = (torch.rand(self.size, self.size, generator=gen) > 0.7).float()
        return {"image": torch.randint(0, 256, (3, self.size, self.size), dtype=torch.uint8, generator=gen),
                "audio": torch.rand(400, generator=gen) * 2 - 1, "gt_map": gt, "mask": mask,
                "boxes": torch.rand(index % 3, 4, generator=gen), "classes": torch.arange(index % 4),
                "label": index % 5 - 1, "on_screen": index % 2 == 0, "id": f"clip-{index:03d}"}


def assert_same_sample(cached: dict, source: dict, audio=None) -> None:
    assert set(cached) == set(source)
    for key, value in source.items():
        expected = audio if key == "audio" and audio is not None else value
        if isinstance(value, torch.Tensor):
            assert cached[key].dtype == value.dtype and torch.equal(cached[key], expected), key
        else:
            assert cached[key] == expected and type(cached[key]) is type(expected), key


@pytest.fixture
def annotated_cache(tmp_path):
    data = Annotated()
    return data, CachedDataset(build_cache(data, tmp_path / "cache", audio_dtype="float32", num_workers=0,
                                           progress=False))


def test_a_float32_cache_returns_the_source_samples_exactly(annotated_cache):
    data, cached = annotated_cache
    assert len(cached) == len(data) and cached.sample_rate == data.sample_rate
    for index in range(len(data)):
        assert_same_sample(cached[index], data[index])


@pytest.mark.parametrize("audio_dtype", ["float16", "int16"])
def test_compact_audio_is_the_source_rounded_once(tmp_path, audio_dtype):
    data = Annotated(6)
    cached = CachedDataset(build_cache(data, tmp_path / "c", audio_dtype=audio_dtype, num_workers=0, progress=False))
    for index in range(len(data)):
        wave = data[index]["audio"]
        rounded = wave.half().float() if audio_dtype == "float16" else torch.round(wave * 32767) / 32767
        assert_same_sample(cached[index], data[index], audio=rounded)
        assert (cached[index]["audio"] - wave).abs().max() < 1e-3


def test_the_manifest_records_shapes_dtypes_sizes_and_hashes(annotated_cache):
    _, cached = annotated_cache
    manifest = json.loads((cached.path / "manifest.json").read_text())
    assert manifest["count"] == 12 and "Annotated" in manifest["source"]
    images = manifest["arrays"]["images"]
    assert images["shape"] == [12, 3, 16, 16] and images["dtype"] == "|u1" and images["bytes"] == 12 * 3 * 16 * 16
    assert set(manifest["arrays"]) == {"images", "audio", "gt", "mask"}
    assert all(len(e["sha256"]) == 64 for e in [*manifest["arrays"].values(), *manifest["files"].values()])
    verify_cache(cached.path, checksums=True)  # the hashes written while streaming match the files


def test_a_batch_read_equals_collating_single_samples(annotated_cache):
    _, cached = annotated_cache
    indices = [7, 0, 11, 3, 3]
    fast = collate(cached.__getitems__(indices))
    slow = collate_samples([cached[i] for i in indices])
    assert set(fast) == set(slow)
    for key in fast:
        if isinstance(fast[key], torch.Tensor):
            assert torch.equal(fast[key], slow[key]), key
        elif key in ("boxes", "classes"):
            assert all(torch.equal(a, b) for a, b in zip(fast[key], slow[key])), key
        else:
            assert fast[key] == slow[key], key
    # Any other collate function sees per-sample dicts and builds the same batch.
    assert torch.equal(collate_samples(cached.__getitems__(indices))["image"], fast["image"])
    assert isinstance(cached.__getitems__(indices), PreCollated)


def test_worker_processes_reopen_the_maps_instead_of_copying_them(annotated_cache):
    data, cached = annotated_cache
    cached[0]  # opens the memory maps in this process
    assert len(pickle.dumps(cached)) < 20_000  # the maps themselves are not pickled
    loader = DataLoader(cached, batch_size=5, num_workers=2, collate_fn=cached.collate_fn)
    batches = list(loader)
    assert [len(b["id"]) for b in batches] == [5, 5, 2]
    assert torch.equal(torch.cat([b["image"] for b in batches]), torch.stack([data[i]["image"] for i in range(12)]))


def test_ragged_fields_cross_from_loader_workers_packed_and_intact(annotated_cache):
    data, cached = annotated_cache
    batch = collate([data[i] for i in range(5)])
    assert isinstance(batch, Batch)
    # Pickled, the two lists of 5 tensors travel as two tensors (plus lengths), not ten.
    _, (plain, packed) = batch.__reduce__()
    assert set(packed) == {"boxes", "classes"} and "boxes" not in plain
    restored = pickle.loads(pickle.dumps(batch))
    for key in ("boxes", "classes"):
        assert all(torch.equal(a, b) for a, b in zip(restored[key], batch[key], strict=True)), key
    for dataset in (data, cached):  # the generic collate and the cache's fast path
        loader = DataLoader(dataset, batch_size=5, num_workers=1, collate_fn=collate)
        arrived = [sample for b in loader for sample in zip(b["boxes"], b["classes"], b["id"])]
        assert [i for _, _, i in arrived] == [data[i]["id"] for i in range(12)]
        for i, (boxes, classes, _) in enumerate(arrived):
            assert torch.equal(boxes, data[i]["boxes"]) and torch.equal(classes, data[i]["classes"])


def test_training_on_a_cache_is_training_on_the_source(tmp_path, tone_squares, ci_config):
    data = tone_squares(32)
    cached = CachedDataset(build_cache(data, tmp_path / "cache", audio_dtype="float32", num_workers=0, progress=False))
    config = apply_overrides(ci_config, {"train.epochs": 1})
    direct = training.train(config, tmp_path / "direct", data, progress=False)
    from_cache = training.train(config, tmp_path / "cached", cached, progress=False)
    assert direct.state.history == from_cache.state.history
    for a, b in zip(direct.parts.model.parameters(), from_cache.parts.model.parameters()):
        assert torch.equal(a, b)


def test_a_truncated_file_is_named(annotated_cache):
    _, cached = annotated_cache
    gt = cached.path / "gt.f16"
    gt.write_bytes(gt.read_bytes()[:-10])
    with pytest.raises(CacheError, match=r"gt\.f16: truncated"):
        CachedDataset(cached.path)


def test_a_missing_file_is_named(annotated_cache):
    _, cached = annotated_cache
    (cached.path / "meta.npz").unlink()
    with pytest.raises(CacheError, match=r"meta\.npz: missing cache file"):
        CachedDataset(cached.path)


def test_flipped_bytes_are_caught_by_the_checksums(annotated_cache):
    _, cached = annotated_cache
    images = cached.path / "images.u8"
    raw = bytearray(images.read_bytes())
    raw[100] ^= 0xFF
    images.write_bytes(bytes(raw))
    CachedDataset(cached.path)  # same size: the cheap check cannot see it
    with pytest.raises(CacheError, match=r"images\.u8: SHA-256 does not match"):
        CachedDataset(cached.path, verify="sha256")


def test_a_directory_without_manifest_is_not_a_cache(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(CacheError, match="manifest.json: no cache manifest.*never finished"):
        CachedDataset(tmp_path / "half")
    (tmp_path / "half" / "manifest.json").write_text("{not json")
    with pytest.raises(CacheError, match="unreadable cache manifest"):
        CachedDataset(tmp_path / "half")


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    with pytest.raises(OSError, match="cannot decode sample 9"):
        build_cache(Annotated(fail_at=9), tmp_path / "cache", num_workers=0, chunk_size=4, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_cache_is_replaced_only_on_request(tmp_path):
    path = build_cache(Annotated(4), tmp_path / "cache", num_workers=0, progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_cache(Annotated(6), path, num_workers=0, progress=False)
    build_cache(Annotated(6), path, num_workers=0, progress=False, overwrite=True)
    assert len(CachedDataset(path)) == 6
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # no temporary directories left


def test_lossy_storage_is_refused_rather_than_silent(tmp_path):
    with pytest.raises(CacheError, match="gt_map is not binary"):
        build_cache(Annotated(2), tmp_path / "a", gt_dtype="uint8", num_workers=0, progress=False)

    class Loud(Annotated):
        def __getitem__(self, index):
            return {**super().__getitem__(index), "audio": torch.full((400,), 1.5)}

    with pytest.raises(CacheError, match=r"sample 0 \(clip-000\): audio leaves \[-1, 1\]"):
        build_cache(Loud(2), tmp_path / "b", audio_dtype="int16", num_workers=0, progress=False)


def test_cache_dataset_builds_once_then_reuses_and_refuses_another_source(tmp_path):
    first = cache_dataset(Annotated(5), tmp_path / "cache", num_workers=0, progress=False)
    stamp = (tmp_path / "cache" / "manifest.json").stat().st_mtime_ns
    again = cache_dataset(Annotated(5), tmp_path / "cache", num_workers=0, progress=False)
    assert (tmp_path / "cache" / "manifest.json").stat().st_mtime_ns == stamp and len(again) == len(first)
    with pytest.raises(CacheError, match="not from"):
        cache_dataset(Annotated(7), tmp_path / "cache", num_workers=0, progress=False)
    assert len(cache_dataset(Annotated(7), tmp_path / "cache", rebuild=True, num_workers=0, progress=False)) == 7


def test_uint8_maps_hold_binary_ground_truth_exactly(tmp_path, tone_squares):
    data = tone_squares(4)
    cached = CachedDataset(build_cache(data, tmp_path / "c", gt_dtype="uint8", num_workers=0, progress=False))
    assert (cached.path / "gt.u8").stat().st_size == 4 * 32 * 32
    assert all(torch.equal(cached[i]["gt_map"], data[i]["gt_map"]) for i in range(4))
    assert np.isclose(cached.path.joinpath("audio.f16").stat().st_size, 4 * 16000 * 2)


def write_folder_benchmark(root, count=6, size=20):
    """A plain ``frames/<id>.jpg`` + ``audio/<id>.wav`` benchmark of ``count`` pairs."""
    from PIL import Image
    import soundfile as sf

    (root / "frames").mkdir(parents=True)
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "frames" / f"c{i}.jpg")
        sf.write(root / "audio" / f"c{i}.wav", 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
    return root


def test_a_cache_dir_decodes_a_benchmark_split_once_and_reuses_it(tmp_path, monkeypatch):
    from fnac_lib.config import preset
    from fnac_lib.data.factory import cache_path, cached_split, make_dataset

    root = write_folder_benchmark(tmp_path / "bench")
    plain_config = preset("ci", **{"data.dataset": "folder", "data.data_root": str(root), "data.image_size": 16})
    config = apply_overrides(plain_config, {"data.cache_dir": str(tmp_path / "caches")})
    plain, cached = make_dataset(plain_config, "test"), make_dataset(config, "test")
    assert isinstance(cached, CachedDataset) and cached.path == cache_path(config, "test")
    for i in range(len(plain)):
        assert torch.equal(cached[i]["image"], plain[i]["image"]) and cached[i]["id"] == plain[i]["id"]
        torch.testing.assert_close(cached[i]["audio"], plain[i]["audio"], atol=1e-3, rtol=0)  # float16 waveforms
    stamp = (cached.path / "manifest.json").stat().st_mtime_ns
    assert make_dataset(config, "test").path == cached.path  # the next run reads it as it is
    assert (cached.path / "manifest.json").stat().st_mtime_ns == stamp
    # anything that shapes the samples gets its own cache
    assert cache_path(apply_overrides(config, {"data.image_size": 24}), "test") != cached.path
    assert cache_path(apply_overrides(config, {"data.reader_options": {"frame": 2}}), "test") != cached.path

    # under torchrun only rank 0 builds; the others wait for its manifest
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets both
    other = apply_overrides(config, {"data.cache_dir": str(tmp_path / "elsewhere")})
    with pytest.raises(TimeoutError, match="rank 0 did not finish"):
        cached_split(plain, other, "test", wait_seconds=0.05)
    assert cached_split(plain, config, "test", wait_seconds=0.05).path == cached.path
