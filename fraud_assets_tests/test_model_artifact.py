"""The manifest of a model folder: written once, checked in full before anything is unpickled."""

from __future__ import annotations

import shutil
import sys

import pytest

from fraud_assets.model_artifact import MANIFEST_FILE, ModelIntegrityError, load_verified, verify, write_manifest
from fraud_assets_tests.deployment.toy_model import save_toy_model
from fraud_assets_tests.tampering import TAMPERINGS, tamper


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """(folder, manifest SHA-256) of a toy model saved as training saves it."""
    return save_toy_model(tmp_path_factory.mktemp("registered") / "model")


def test_the_manifest_lists_every_file_and_an_untouched_folder_loads(registered):
    folder, manifest_sha256 = registered
    listed = (folder / MANIFEST_FILE).read_text()
    for name in ("model.pkl", "MLmodel", "requirements.txt"):
        assert f'"{name}"' in listed
    assert load_verified(folder, manifest_sha256.upper()).threshold == 0.5


@pytest.mark.parametrize("how", TAMPERINGS)
def test_a_tampered_folder_is_refused_before_anything_is_unpickled(registered, tmp_path, how):
    folder = shutil.copytree(registered[0], tmp_path / "model")
    sentinel = tmp_path / "payload-ran"
    tamper(folder, how, sentinel)
    import_path = list(sys.path)

    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        load_verified(folder, registered[1])

    assert not sentinel.exists()
    assert sys.path == import_path


def test_a_manifest_rewritten_to_match_is_refused_by_its_hash(registered, tmp_path):
    folder = shutil.copytree(registered[0], tmp_path / "model")
    tamper(folder, "extra_file", tmp_path / "payload-ran")
    write_manifest(folder)  # the attacker's own manifest of the tampered folder
    with pytest.raises(ModelIntegrityError, match=f"{MANIFEST_FILE}: SHA-256 .* differs from the registered"):
        verify(folder, registered[1])


def test_a_symlink_in_the_folder_is_refused(registered, tmp_path):
    folder = shutil.copytree(registered[0], tmp_path / "model")
    (folder / "requirements.txt").unlink()
    (folder / "requirements.txt").symlink_to(registered[0] / "requirements.txt")  # the same bytes, elsewhere
    with pytest.raises(ModelIntegrityError, match="not a regular file"):
        verify(folder, registered[1])


def test_a_folder_without_a_manifest_is_refused(registered, tmp_path):
    folder = shutil.copytree(registered[0], tmp_path / "model")
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match=r"no manifest\.json"):
        verify(folder, registered[1])
