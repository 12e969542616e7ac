import pytest
import torch

from quanos_lib import preprocessing


@pytest.fixture
def correlated():
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(12, 12, generator=g)
    return (torch.randn(4000, 12, generator=g) @ mixing).reshape(4000, 3, 2, 2)


def test_gcn_gives_zero_mean_images_of_norm_55(correlated):
    x = preprocessing.global_contrast_normalize(correlated)
    flat = x.reshape(len(x), -1)
    assert torch.allclose(flat.mean(1), torch.zeros(len(x)), atol=1e-4)
    assert torch.allclose(flat.norm(dim=1), torch.full((len(x),), 55.0), atol=1e-3)
    assert torch.equal(preprocessing.global_contrast_normalize(torch.ones(2, 12)), torch.zeros(2, 12))


def test_zca_whitens_to_identity_covariance_without_bias(correlated):
    zca = preprocessing.ZCA(filter_bias=1e-9).fit(correlated)
    z = zca(correlated).reshape(len(correlated), -1).double()
    covariance = z.T @ z / len(z)
    assert torch.allclose(covariance, torch.eye(12, dtype=torch.float64), atol=1e-3)
    # ZCA (unlike PCA whitening) stays close to the data: the whitening matrix is symmetric
    assert torch.allclose(zca.matrix, zca.matrix.T)


def test_zca_filter_bias_shrinks_low_variance_directions_exactly(correlated):
    zca = preprocessing.ZCA(filter_bias=0.1).fit(correlated)
    flat = correlated.reshape(len(correlated), -1).double()
    centered = flat - flat.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(centered.T @ centered / len(flat))
    expected = (eigenvectors * (eigenvalues / (eigenvalues + 0.1))) @ eigenvectors.T
    z = zca(correlated).reshape(len(correlated), -1).double()
    assert torch.allclose(z.T @ z / len(z), expected, atol=1e-3)


def test_inverse_zca_and_display_transform(correlated):
    zca = preprocessing.ZCA().fit(correlated)
    assert torch.allclose(zca.inverse(zca(correlated)), correlated, atol=1e-3)
    shown = preprocessing.for_display(zca(correlated[:5]), zca)
    assert shown.shape == (5, 3, 2, 2) and shown.min() == 0 and shown.max() == 1


def test_fitted_zca_is_cached(monkeypatch):
    images = torch.rand(300, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    first = preprocessing.fitted_zca(images)

    def refit(self, x):
        raise AssertionError("the cached fit should have been used")
    monkeypatch.setattr(preprocessing.ZCA, "fit", refit)
    again = preprocessing.fitted_zca(images)
    assert torch.equal(first.matrix, again.matrix) and torch.equal(first.mean, again.mean)
    assert torch.allclose(preprocessing.preprocess(images, again),
                          again(preprocessing.global_contrast_normalize(images)))


def test_zca_and_preprocessing_give_the_same_bytes_whatever_the_thread_count(tmp_path, monkeypatch):
    """Their bytes key the conv maxout's checkpoint; ZCA.fit itself differs between 1 and 2 threads (a matrix product
    sums by thread), so the cached fit and the preprocessing run on one thread."""
    images = torch.rand(3000, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    threads, made = torch.get_num_threads(), {}
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            monkeypatch.setenv("QUANOS_CACHE", str(tmp_path / f"cache{count}"))  # fitted anew, not read back
            zca = preprocessing.fitted_zca(images)
            made[count] = (zca.matrix, preprocessing.preprocess(images[:100], zca))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(made[1][0], made[2][0]) and torch.equal(made[1][1], made[2][1])
    assert torch.get_num_threads() == threads  # one_thread restores the count
