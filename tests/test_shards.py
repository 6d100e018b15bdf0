import numpy as np
import pytest

from colorization.core.errors import UserError
from colorization.lab.shards import LabShards, write_shards


def random_images(count: int, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_images_come_back_identical_across_shard_boundaries(tmp_path):
    images = random_images(23)
    assert write_shards(iter(images), 23, (8, 8, 3), tmp_path, shard_size=5) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"shard_0000{i}.npy" for i in range(5)]
    shards = LabShards(tmp_path)
    assert len(shards) == 23
    order = np.random.default_rng(1).permutation(23)
    np.testing.assert_array_equal(shards.read(order), images[order])
    np.testing.assert_array_equal(shards.read([4, 5, 4]), images[[4, 5, 4]])


def test_shards_are_plain_npy_files_read_by_memory_mapping(tmp_path):
    write_shards(iter(random_images(6)), 6, (8, 8, 3), tmp_path, shard_size=4)
    first = np.load(tmp_path / "shard_00000.npy", mmap_mode="r")
    assert isinstance(first, np.memmap) and first.shape == (4, 8, 8, 3) and first.dtype == np.uint8
    assert not list(tmp_path.glob("*tmp*"))


def test_limit_takes_a_prefix_and_batches_are_model_scaled(tmp_path):
    images = random_images(10)
    write_shards(iter(images), 10, (8, 8, 3), tmp_path, shard_size=4)
    shards = LabShards(tmp_path, limit=6)
    assert len(shards) == 6
    with pytest.raises(IndexError):
        shards.read([6])
    l_input, ab = shards.batch([0, 3])
    assert l_input.shape == (2, 8, 8, 1) and ab.shape == (2, 8, 8, 2)
    assert l_input.dtype == ab.dtype == np.float32
    batches = list(shards.batches(4))
    assert [len(b[0]) for b in batches] == [4, 2]


def test_wrong_image_shape_is_refused_and_leaves_no_shard(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_shards(iter(random_images(3, size=4)), 3, (8, 8, 3), tmp_path, shard_size=4)
    assert list(tmp_path.iterdir()) == []


def test_missing_shards_name_the_stage_to_run(tmp_path):
    with pytest.raises(UserError, match="prepare"):
        LabShards(tmp_path)


def test_prefetching_batches_match_plain_batches_in_order(tmp_path):
    write_shards(iter(random_images(23)), 23, (8, 8, 3), tmp_path, shard_size=5)
    shards = LabShards(tmp_path)
    order = np.random.default_rng(2).permutation(23)
    plain = list(shards.batches(4, order, prefetch=0))
    prefetched = list(shards.batches(4, order, prefetch=3))
    assert len(plain) == len(prefetched) == 6
    for (l_plain, ab_plain), (l_pre, ab_pre) in zip(plain, prefetched):
        np.testing.assert_array_equal(l_plain, l_pre)
        np.testing.assert_array_equal(ab_plain, ab_pre)


def test_batches_read_straight_from_the_maps_equal_the_scaled_images_in_the_order_asked(tmp_path):
    from colorization.core.encoding import model_batch

    images = random_images(23)
    write_shards(iter(images), 23, (8, 8, 3), tmp_path, shard_size=5)
    shards = LabShards(tmp_path)
    for indices in (np.random.default_rng(3).permutation(23), [22, 0, 7, 0, 22], []):
        l_input, ab = shards.batch(indices)
        l_expected, ab_expected = model_batch(images[np.asarray(indices, dtype=int)])
        np.testing.assert_array_equal(l_input, l_expected)
        np.testing.assert_array_equal(ab, ab_expected)


def test_mirror_flips_exactly_the_marked_images_left_right_in_every_form_and_order(tmp_path):
    from colorization.core.encoding import model_batch

    images = random_images(23)
    write_shards(iter(images), 23, (8, 8, 3), tmp_path, shard_size=5)
    shards = LabShards(tmp_path)
    mirror = np.random.default_rng(4).random(23) < 0.5
    expected = np.where(mirror[:, None, None, None], images[:, :, ::-1], images)
    order = np.random.default_rng(5).permutation(23)
    encoded = np.concatenate(list(shards.batches(4, order, encoded=True, mirror=mirror)))
    np.testing.assert_array_equal(encoded, expected[order])
    for prefetch in (0, 2):
        scaled = list(shards.batches(4, order, prefetch, mirror=mirror))
        l_expected, ab_expected = model_batch(expected[order])
        np.testing.assert_array_equal(np.concatenate([l_input for l_input, _ in scaled]), l_expected)
        np.testing.assert_array_equal(np.concatenate([ab for _, ab in scaled]), ab_expected)
    np.testing.assert_array_equal(shards.read(order), images[order])  # the stored images are untouched
