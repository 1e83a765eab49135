"""``load_digits_split(fold=k)``: a stratified 4-fold cross-validation of the digits set.

Checked against the data itself (scikit-learn's 1797 images), not against the loader's code:
the four test sets are disjoint, together hold every image once, keep each class's share, and
fold 0 is the default split that the examples ship.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from hwq.data.digits import load_digits_split


def _rows(x):
    return {r.tobytes() for r in np.round(np.asarray(x) * 16).astype(np.int8)}


def test_four_folds_cover_every_image_once():
    d = load_digits()
    folds = [load_digits_split(fold=k) for k in range(4)]
    tests = [_rows(f.x_test) for f in folds]
    assert sum(len(t) for t in tests) == len(d.data)  # digits has no duplicate images
    assert set().union(*tests) == _rows(d.data / 16.0)
    for f, t in zip(folds, tests):
        assert len(f.y_test) + len(f.y_train) == len(d.data)
        assert not (_rows(f.x_train) & t)  # train and test never share an image
        for c in range(10):  # stratified: each class gives a quarter (rounded) to every fold
            assert abs((f.y_test == c).sum() - (d.target == c).sum() / 4) <= 1


def test_fold_zero_is_the_default_split():
    a, b = load_digits_split(), load_digits_split(fold=0)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("fold", [-1, 4, 1.0])
def test_bad_fold(fold):
    with pytest.raises(ValueError, match="fold"):
        load_digits_split(fold=fold)
