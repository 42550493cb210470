import gzip
import shutil

import numpy as np
import pytest

from edge import mnist


def test_reads_the_real_files(mnist_dir):
    train = mnist.load_split("train", mnist_dir)
    test = mnist.load_split("test", mnist_dir)
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10_000, 28, 28) and test.labels.shape == (10_000,)
    assert abs(train.images.mean() / 255 - 0.1307) < 1e-3  # the canonical statistics
    assert np.bincount(test.labels).tolist()[:2] == [980, 1135]


@pytest.fixture
def copy_dir(tmp_path, mnist_dir):
    for name in mnist.FILES.values():
        shutil.copy(mnist_dir / name, tmp_path / name)
    return tmp_path


def test_truncated_file_names_the_file(copy_dir):
    path = copy_dir / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(mnist.MnistError, match="t10k-images-idx3-ubyte.gz"):
        mnist.load_split("test", copy_dir)


def test_short_content_in_a_valid_gzip(copy_dir):
    path = copy_dir / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(mnist.MnistError, match=r"9990 data bytes, expected 10000"):
        mnist.load_split("test", copy_dir)


def test_wrong_magic_number(copy_dir):
    path = copy_dir / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[3] = 1
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(mnist.MnistError, match="magic number 2049, expected 2051"):
        mnist.load_split("test", copy_dir)


def test_missing_file(copy_dir):
    (copy_dir / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(mnist.MnistError, match="train-labels-idx1-ubyte.gz: file is missing"):
        mnist.load_split("train", copy_dir)


def test_environment_variable_is_used(copy_dir, monkeypatch):
    monkeypatch.setenv(mnist.ENV_VAR, str(copy_dir))
    assert mnist.find_data_dir() == copy_dir


def test_missing_directory_tells_how_to_fix(tmp_path):
    with pytest.raises(mnist.MnistError, match="does not exist"):
        mnist.find_data_dir(tmp_path / "nope")
