import numpy as np
import pytest

from ecopt.data import build_splits, load_splits, main, save_splits
from ecopt.errors import ConfigError
from ecopt.fixtures import write_cifar10_fixture, write_mnist_fixture
from ecopt.settings import validate_section


def test_digits_splits_are_fixed_seed_stratified_and_disjoint():
    first = build_splits({"dataset": "digits", "seed": 3})
    again = build_splits({"dataset": "digits", "seed": 3})
    other = build_splits({"dataset": "digits", "seed": 4})
    assert first.counts() == {"train": 1150, "val": 288, "test": 359}  # 1797 = 60/20/20 (rounded)
    assert sum(first.counts().values()) == 1797
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.y_test, other.y_test)
    assert first.input_shape == (1, 8, 8) and first.num_classes == 10
    # every class in every split, in proportion
    for labels in (first.y_train, first.y_val, first.y_test):
        counts = np.bincount(labels, minlength=10)
        assert counts.min() > 0 and counts.max() / counts.min() < 1.3
    # standardised with training statistics
    assert abs(first.x_train.mean()) < 1e-3 and first.x_train.std() == pytest.approx(1.0, abs=1e-3)


def test_stratified_split_is_a_disjoint_cover_with_exact_size():
    from ecopt.data import _stratified_split

    labels = np.repeat(np.arange(7), [50, 30, 20, 11, 9, 5, 3])
    kept, held = _stratified_split(labels, 0.25, None, np.random.default_rng(0))
    assert len(held) == round(len(labels) * 0.25)
    assert np.intersect1d(kept, held).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(labels)))
    kept, held = _stratified_split(labels, None, 40, np.random.default_rng(0))
    assert len(held) == 40 and set(range(6)) <= set(labels[held])  # every class with a quota >= 1
    with pytest.raises(ValueError):
        _stratified_split(labels, None, len(labels), np.random.default_rng(0))


def test_mnist_and_fashion_fixtures_load_through_torchvision(tmp_path):
    write_mnist_fixture(tmp_path, train=300, test=50)
    write_mnist_fixture(tmp_path, train=200, test=40, variant="FashionMNIST")
    mnist = build_splits({"dataset": "mnist", "root": str(tmp_path), "validation_fraction": 0.25})
    assert mnist.counts() == {"train": 225, "val": 75, "test": 50}
    assert mnist.input_shape == (1, 28, 28)
    assert "torchvision.datasets.MNIST" in mnist.source
    fashion = build_splits({"dataset": "fashion_mnist", "root": str(tmp_path), "max_train_samples": 100})
    assert fashion.counts() == {"train": 100, "val": 40, "test": 40}


def test_cifar10_fixture_paper_split_shape_and_checksum_option(tmp_path):
    write_cifar10_fixture(tmp_path, train_per_batch=60, test=50)
    splits = build_splits({"dataset": "cifar10", "root": str(tmp_path), "verify_checksums": False, "validation_size": 100})
    assert splits.counts() == {"train": 200, "val": 100, "test": 50}
    assert splits.input_shape == (3, 32, 32)
    with pytest.raises(ConfigError) as caught:  # MD5 differs from the release: a clear error, not a crash
        build_splits({"dataset": "cifar10", "root": str(tmp_path)})
    assert caught.value.key == "data.root" and "verify_checksums" in str(caught.value)


def test_missing_download_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        build_splits({"dataset": "mnist", "root": str(tmp_path)})
    assert "data.download" in str(caught.value)


def test_save_and_load_round_trip_with_manifest(tmp_path):
    splits = build_splits({"dataset": "digits"})
    manifest = save_splits(splits, tmp_path / "data", {"dataset": "digits"})
    assert manifest["counts"] == splits.counts() and len(manifest["sha256"]) == 64
    loaded = load_splits(tmp_path / "data")
    np.testing.assert_array_equal(loaded.x_val, splits.x_val)
    assert loaded.num_classes == 10 and loaded.name == "digits"


def test_cli_writes_splits(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("adapter: ecopt.adapters.cnn:CNNClassifier\ndata: {dataset: digits, seed: 1}\n")
    assert main(["--config", str(config), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "splits.npz").is_file() and (tmp_path / "out" / "manifest.json").is_file()
    config.write_text("adapter: ecopt.adapters.cnn:CNNClassifier\ndata: {dataset: imagenet}\n")
    assert main(["--config", str(config), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    "section, key",
    [
        ({"dataset": "imagenet"}, "data.dataset"),
        ({"validation_fraction": 1.5}, "data.validation_fraction"),
        ({"validation_size": 0}, "data.validation_size"),
        ({"download": "yes"}, "data.download"),
        ({"seed": 1.5}, "data.seed"),
        ({"shuffle": True}, "data.shuffle"),
    ],
)
def test_bad_data_settings_name_the_key(section, key):
    with pytest.raises(ConfigError) as caught:
        validate_section("data", section)
    assert caught.value.key == key


def test_python_docs_corpus_splits_whole_documents_into_byte_streams(tmp_path):
    from ecopt.data import python_docs_corpus

    settings = {"dataset": "python_docs", "validation_fraction": 0.1, "test_fraction": 0.1, "seed": 3}
    splits = build_splits(settings)
    assert splits.num_classes == 256 and splits.x_train.dtype == np.uint8 and splits.x_train.ndim == 1
    total = sum(len(text.encode("utf-8")) for text in python_docs_corpus().values())
    counts = splits.counts()
    assert counts["train"] > 0.6 * total and counts["val"] > 0.05 * total and counts["test"] > 0.05 * total
    text = {name: bytes(getattr(splits, f"x_{name}")).decode("utf-8") for name in ("train", "val", "test")}
    for document in python_docs_corpus().values():  # each document sits in exactly one split
        assert sum(document in part for part in text.values()) == 1
    assert build_splits(settings).x_test.tobytes() == splits.x_test.tobytes()
    assert build_splits({**settings, "seed": 4}).x_test.tobytes() != splits.x_test.tobytes()
    save_splits(splits, tmp_path, settings)
    assert load_splits(tmp_path).x_val.tobytes() == splits.x_val.tobytes()


def test_no_dataset_for_adapters_with_their_own_inputs(tmp_path):
    splits = build_splits({"dataset": "none"})
    assert splits.counts() == {"train": 0, "val": 0, "test": 0}
    assert save_splits(splits, tmp_path)["dataset"] == "none"
