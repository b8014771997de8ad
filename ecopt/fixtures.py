"""Small datasets in torchvision's on-disk formats, for tests and smoke runs.

The real MNIST/Fashion-MNIST/CIFAR-10 files need a download; these writers
produce the same file layout (IDX files under ``<Name>/raw``, pickled batches
under ``cifar-10-batches-py``) with class-dependent images, so that torchvision's
own readers and ECOpt's loading code run unchanged and a model can learn
something. CIFAR-10 fixtures differ from the release's MD5 sums: load them with
``data.verify_checksums: false``.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def _class_images(count: int, shape: tuple[int, ...], num_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose mean pattern depends on the label, plus noise."""
    labels = np.arange(count) % num_classes
    rng.shuffle(labels)
    prototypes = rng.uniform(0, 255, size=(num_classes, *shape))
    noise = rng.normal(0, 40, size=(count, *shape))
    images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def _write_idx(path: Path, array: np.ndarray) -> None:
    # IDX: two zero bytes, type code 0x08 (unsigned byte), number of dimensions, big-endian sizes.
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist_fixture(root: str | Path, train: int = 600, test: int = 100, variant: str = "MNIST", seed: int = 0) -> Path:
    """Write ``<root>/<variant>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``."""
    if variant not in ("MNIST", "FashionMNIST"):
        raise ValueError(f"variant must be 'MNIST' or 'FashionMNIST', got {variant!r}")
    rng = np.random.default_rng(seed)
    raw = Path(root) / variant / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        images, labels = _class_images(count, (28, 28), 10, rng)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


def write_cifar10_fixture(root: str | Path, train_per_batch: int = 100, test: int = 100, seed: int = 0) -> Path:
    """Write ``<root>/cifar-10-batches-py`` with five training batches, a test batch and meta."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]
    for name in batches:
        count = test if name == "test_batch" else train_per_batch
        images, labels = _class_images(count, (3, 32, 32), 10, rng)
        entry = {
            "batch_label": name,
            "labels": [int(label) for label in labels],
            "data": images.reshape(count, 3 * 32 * 32),  # the release stores CHW rows
            "filenames": [f"{name}_{index}.png" for index in range(count)],
        }
        with open(folder / name, "wb") as stream:
            pickle.dump(entry, stream)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as stream:
        pickle.dump({"label_names": names, "num_cases_per_batch": train_per_batch, "num_vis": 3072}, stream)
    return folder
