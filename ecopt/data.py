"""Datasets and their fixed-seed train/validation/test splits.

``digits`` (scikit-learn's bundled 8x8 digits) needs no download and is the
embedded default. ``mnist``, ``fashion_mnist`` and ``cifar10`` go through
torchvision's own loaders and on-disk formats, so a user's existing download is
found where torchvision would find it. Splits are stratified by scikit-learn
(``train_test_split(stratify=...)``) and standardised with the training
split's per-channel statistics and stored as one ``splits.npz`` plus a
``manifest.json`` (counts, shapes, checksum, source): the dataset-prep checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecopt.errors import ConfigError
from ecopt.io import read_json, write_bytes, write_json
from ecopt.settings import DataSettings, validate_section, validate_study

logger = logging.getLogger(__name__)

# Token-stream datasets: x_* hold 1-D token ids (bytes), y_* are empty (targets are x shifted).
TEXT_DATASETS = ("python_docs",)
SPLITS_FILE = "splits.npz"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class DatasetSplits:
    """One dataset's train/validation/test arrays, as ``build_splits`` makes and ``save_splits`` stores them.

    Image datasets: ``x_*`` float32 (N, C, H, W), standardised with the training
    split's per-channel mean and standard deviation; ``y_*`` int64 (N,) class ids in
    ``[0, num_classes)``. Token-stream datasets (``TEXT_DATASETS``): ``x_*`` uint8 (T,)
    byte tokens, ``y_*`` empty (targets are the stream shifted), ``num_classes`` 256.
    ``source`` says where the data came from (loader and path).
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (C, H, W) for images, () for a token stream."""
        return tuple(self.x_train.shape[1:])

    def counts(self) -> dict[str, int]:
        """Samples per split: images for image datasets, tokens for text."""
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


def _stratified_split(labels: np.ndarray, fraction: float | None, size: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices ``(kept, held_out)`` into ``labels`` (shape (N,)), with every class held out in proportion.

    The held-out count is ``size`` when given, else ``round(N * fraction)``. scikit-learn
    does the work (``train_test_split(stratify=labels)``, i.e. ``StratifiedShuffleSplit``:
    per-class quotas by its approximate-mode rounding, so the total is exact); its
    ``random_state`` is drawn from ``rng``, so a seed still fixes the split. Raises
    ``ValueError`` when the held-out count is not between 1 and N-1, or when it (or
    what is kept) is smaller than the number of classes, or a class has one member
    (scikit-learn cannot stratify those; the old hand-written split silently left
    classes out).
    """
    from sklearn.model_selection import train_test_split

    n = len(labels)
    held_out_total = size if size is not None else int(round(n * float(fraction)))  # type: ignore[arg-type]
    if not 0 < held_out_total < n:
        raise ValueError(f"cannot hold out {held_out_total} of {n} samples")
    try:
        kept, held = train_test_split(np.arange(n), test_size=held_out_total, stratify=labels, random_state=int(rng.integers(np.iinfo(np.int32).max)))
    except ValueError as error:
        raise ValueError(f"cannot hold out {held_out_total} of {n} samples stratified by {len(np.unique(labels))} classes: {error}") from None
    return np.sort(kept), np.sort(held)


def _load_raw(settings: DataSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """Images as float32 (N, C, H, W) in [0, 1] and int64 labels; test arrays may be None."""
    name = settings.dataset
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
        return images, bunch.target.astype(np.int64), None, None, "scikit-learn load_digits (bundled, UCI 8x8 digits)"

    import torchvision

    root = Path(settings.root)
    if name in ("mnist", "fashion_mnist"):
        loader = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    else:
        loader = torchvision.datasets.CIFAR10
        if not settings.verify_checksums:
            loader = _cifar10_without_checksums()
    try:
        train = loader(root=str(root), train=True, download=settings.download)
        test = loader(root=str(root), train=False, download=settings.download)
    except RuntimeError as error:
        raise ConfigError(
            "data.root",
            str(root),
            f"a folder holding torchvision's {name} files ({error}); set data.download: true on a machine with a network, "
            "or data.verify_checksums: false for a re-packed copy of CIFAR-10",
        ) from None

    def arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(dataset.data, dtype=np.float32) / 255.0
        images = images[:, None, :, :] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(images), np.asarray(dataset.targets, dtype=np.int64)

    x_train, y_train = arrays(train)
    x_test, y_test = arrays(test)
    return x_train, y_train, x_test, y_test, f"torchvision.datasets.{loader.__name__} at {root}"


def _cifar10_without_checksums() -> type:
    """CIFAR-10 that accepts files whose MD5 differs from the official release.

    For generated fixtures and re-packed copies; the file layout and pickle format
    are still torchvision's, only the checksum comparison is skipped.
    """
    import pickle

    import torchvision

    class CIFAR10(torchvision.datasets.CIFAR10):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / filename).is_file() for filename, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as stream:
                self.classes = pickle.load(stream, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

    return CIFAR10


def python_docs_corpus() -> dict[str, str]:
    """Python's reference documentation by topic, as bundled with CPython (``pydoc_data``): real English and code text, no download."""
    from pydoc_data.topics import topics

    return dict(topics)


def _text_splits(settings: DataSettings, rng: np.random.Generator) -> DatasetSplits:
    """Whole documents (topics) to train/validation/test, shuffled by the seed; tokens are UTF-8 bytes.

    Splitting by document, not by position, keeps held-out text unseen in training.
    """
    corpus = python_docs_corpus()
    ordered = sorted(corpus)
    names = [ordered[i] for i in rng.permutation(len(ordered))]
    total = sum(len(corpus[n]) for n in names)
    targets = {"test": settings.test_fraction * total, "val": settings.validation_fraction * total}
    parts: dict[str, list[str]] = {"test": [], "val": [], "train": []}
    filled = {"test": 0, "val": 0}
    for name in names:
        split = next((s for s in ("test", "val") if filled[s] < targets[s]), "train")
        parts[split].append(corpus[name])
        if split in filled:
            filled[split] += len(corpus[name])
    streams = {k: np.frombuffer("\n\n".join(v).encode("utf-8"), dtype=np.uint8).copy() for k, v in parts.items()}
    if settings.max_train_samples is not None:
        streams["train"] = streams["train"][: settings.max_train_samples]
    empty = np.zeros(0, dtype=np.int64)
    return DatasetSplits(
        name=settings.dataset,
        source="CPython pydoc_data.topics (Python's reference documentation, bundled with the interpreter); byte tokens",
        x_train=streams["train"],
        y_train=empty,
        x_val=streams["val"],
        y_val=empty,
        x_test=streams["test"],
        y_test=empty,
        num_classes=256,
    )


def build_splits(settings: DataSettings | Mapping[str, Any] | None) -> DatasetSplits:
    """The splits the data section describes (a ``DataSettings``, or a mapping validated as the ``data`` section).

    Returns a ``DatasetSplits`` (shapes and dtypes there). Sources: scikit-learn's
    bundled digits, torchvision's MNIST/Fashion-MNIST/CIFAR-10 loaders under
    ``data.root``, CPython's ``pydoc_data`` for ``python_docs``. Raises ``ConfigError``
    naming the ``data.<key>`` at fault (``data.root`` when torchvision finds no files),
    ``ValueError`` when a held-out split cannot be stratified (``_stratified_split``).
    """
    settings = validate_section("data", settings)
    rng = np.random.default_rng(settings.seed)
    if settings.dataset in TEXT_DATASETS:
        return _text_splits(settings, rng)
    if settings.dataset == "none":  # the adapter brings its own inputs (inference-only studies)
        empty_x, empty_y = np.zeros((0,), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return DatasetSplits(
            name="none",
            source="none: the adapter generates its own inputs",
            x_train=empty_x,
            y_train=empty_y,
            x_val=empty_x,
            y_val=empty_y,
            x_test=empty_x,
            y_test=empty_y,
            num_classes=0,
        )
    x, y, x_test, y_test, source = _load_raw(settings)
    if x_test is None or y_test is None:
        rest, test_index = _stratified_split(y, settings.test_fraction, None, rng)
        x_test, y_test = x[test_index], y[test_index]
        x, y = x[rest], y[rest]
    train_index, val_index = _stratified_split(y, settings.validation_fraction, settings.validation_size, rng)
    x_train, y_train, x_val, y_val = x[train_index], y[train_index], x[val_index], y[val_index]
    if settings.max_train_samples is not None and settings.max_train_samples < len(y_train):
        keep = np.sort(rng.permutation(len(y_train))[: settings.max_train_samples])
        x_train, y_train = x_train[keep], y_train[keep]

    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True) + 1e-6

    def standardise(images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(((images - mean) / std).astype(np.float32))

    return DatasetSplits(
        name=settings.dataset,
        source=source,
        x_train=standardise(x_train),
        y_train=y_train,
        x_val=standardise(x_val),
        y_val=y_val,
        x_test=standardise(x_test),
        y_test=y_test,
        num_classes=int(max(y_train.max(), y_val.max(), y_test.max()) + 1),
    )


_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def save_splits(splits: DatasetSplits, folder: str | Path, settings: DataSettings | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``splits.npz`` (numpy) and ``manifest.json`` into ``folder`` atomically; return the manifest.

    The manifest records the dataset, its source, class count, per-sample input shape,
    per-split counts and array shapes, the SHA-256 of splits.npz, and the data settings
    (ConfigError when they do not validate).
    """
    folder = Path(folder)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: getattr(splits, name) for name in _ARRAYS})
    payload = buffer.getvalue()
    write_bytes(folder / SPLITS_FILE, payload)
    manifest = {
        "dataset": splits.name,
        "source": splits.source,
        "num_classes": splits.num_classes,
        "input_shape": list(splits.input_shape),
        "counts": splits.counts(),
        "shapes": {name: list(getattr(splits, name).shape) for name in _ARRAYS},
        "sha256": hashlib.sha256(payload).hexdigest(),
        "settings": validate_section("data", settings).to_dict() if settings is not None else None,
    }
    write_json(folder / MANIFEST_FILE, manifest)
    return manifest


def load_splits(folder: str | Path) -> DatasetSplits:
    """Read the ``splits.npz`` and ``manifest.json`` that ``save_splits`` wrote in ``folder``.

    Raises ``FileNotFoundError`` when either file is missing, ``KeyError`` when the
    archive lacks one of the six arrays.
    """
    folder = Path(folder)
    manifest = read_json(folder / MANIFEST_FILE)
    with np.load(folder / SPLITS_FILE) as arrays:
        data = {name: arrays[name] for name in _ARRAYS}
    return DatasetSplits(name=manifest["dataset"], source=manifest["source"], num_classes=manifest["num_classes"], **data)


def main(argv: list[str] | None = None) -> int:
    """``ecopt data --settings JSON | --config FILE --out DIR``: build the study's splits and write them.

    Returns 0, or 2 after printing a config error (which names the key).
    """
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.data", description="Prepare fixed-seed dataset splits.")
    add_study_arguments(parser)
    parser.add_argument("--out", required=True, help="folder for splits.npz and manifest.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = validate_study(study_mapping(args), sections=["data"]).data
        splits = build_splits(settings)
    except ConfigError as error:
        print(f"ecopt.data: {error}", file=sys.stderr)
        return 2
    manifest = save_splits(splits, args.out, settings)
    logger.info("wrote %s: %s", args.out, manifest["counts"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
