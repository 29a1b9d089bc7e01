"""The real-data convention of the test suite: ``$SNAS_TEST_DATA``, skip with a reason, fail under CI."""

from __future__ import annotations

import pytest

from conftest import REPOSITORY, data_root, real_data


def test_data_root_defaults_to_shared_data_beside_the_repository(monkeypatch):
    monkeypatch.delenv("SNAS_TEST_DATA", raising=False)
    assert data_root() == REPOSITORY.parent / "shared" / "data"
    monkeypatch.setenv("SNAS_TEST_DATA", "/somewhere/data")
    assert str(data_root()) == "/somewhere/data"


def test_present_data_is_returned(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("SNAS_TEST_DATA", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    assert real_data("mnist") == tmp_path / "mnist"


def test_missing_data_skips_naming_the_file_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SNAS_TEST_DATA", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"'nb201/nb201.csv.gz' not found under \$SNAS_TEST_DATA="):
        real_data("nb201/nb201.csv.gz")


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_missing_data_fails_under_ci(tmp_path, monkeypatch, value):
    monkeypatch.setenv("SNAS_TEST_DATA", str(tmp_path))
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"'mnist' not found.*CI=true requires it"):
        real_data("mnist")
