"""open_store: dispatch by scheme, URL forms, clear errors, no password shown."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo_service.exceptions import StoreConnectionError
from hpo_service.store import (
    SUPPORTED_SCHEMES,
    NewTrial,
    make_store,
    mask_url,
    open_store,
)
from hpo_service.store._mongo import MongoTrialStore, drop_mongomock_server
from hpo_service.store._sqlite import SQLiteTrialStore
from hpo_service.store._url import make_scrubber, mongodb_url_of_hyperopt, split_scheme
from tests.helpers.ports import held_port

UNREACHABLE = "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=300"


@pytest.fixture
def mock_name() -> Iterator[str]:
    name = f"url-test-{uuid.uuid4().hex[:8]}"
    yield name
    drop_mongomock_server(name)


def chain_text(exc: BaseException) -> str:
    """Everything a traceback of ``exc`` would print about it and its causes."""
    parts = []
    current: BaseException | None = exc
    while current is not None:
        parts.append(f"{current!r} {current}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return " ".join(parts)


class TestDispatch:
    def test_make_store_is_open_store(self) -> None:
        assert make_store is open_store

    def test_sqlite_absolute_path(self, tmp_path: Path) -> None:
        path = tmp_path / "a.sqlite"
        with open_store(f"sqlite:///{path}") as store:
            assert isinstance(store, SQLiteTrialStore)
            store.create_study("s", {})
        assert path.is_file()

    def test_sqlite_relative_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "sub").mkdir()
        with open_store("sqlite:///sub/b.sqlite") as store:
            store.create_study("s", {})
        assert (tmp_path / "sub" / "b.sqlite").is_file()

    def test_sqlite_options_in_url_and_keywords(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'c.sqlite'}?busy_timeout=2&retry_timeout=3"
        with open_store(url, retry_timeout=4.0) as store:
            assert store._busy_timeout == 2.0
            assert store._retry.timeout == 4.0

    def test_scheme_is_case_insensitive(self, tmp_path: Path) -> None:
        with open_store(f"SQLite:///{tmp_path / 'd.sqlite'}") as store:
            assert isinstance(store, SQLiteTrialStore)

    def test_mongomock(self, mock_name: str) -> None:
        with open_store(f"mongomock://{mock_name}") as store:
            assert isinstance(store, MongoTrialStore)

    def test_mongomock_name_shares_one_server(self, mock_name: str) -> None:
        with open_store(f"mongomock://{mock_name}") as one:
            one.create_study("s", {})
            one.insert_trials("s", [NewTrial({}, {})])
            with open_store(f"mongomock://{mock_name}") as two:
                assert two.get_trial("s", 0).state == "new"
                assert two.claim("w", 10.0) is not None
            assert one.count_by_state("s")["running"] == 1

    def test_mongomock_names_and_databases_are_separate(self, mock_name: str) -> None:
        other = f"{mock_name}-other"
        with open_store(f"mongomock://{mock_name}") as one:
            one.create_study("s", {})
            with open_store(f"mongomock://{other}") as two:
                assert two.list_studies() == []
            with open_store(f"mongomock://{mock_name}/elsewhere") as three:
                assert three.list_studies() == []
            with open_store(f"mongomock://{mock_name}", database="hpo") as four:
                assert [s.name for s in four.list_studies()] == ["s"]
        drop_mongomock_server(other)


class TestBadUrls:
    @pytest.mark.parametrize(
        "url", ["redis://localhost", "postgres://u:secret@h/db", "file:///x"]
    )
    def test_unknown_scheme_lists_the_supported_ones(self, url: str) -> None:
        with pytest.raises(ValueError) as info:
            open_store(url)
        for scheme in SUPPORTED_SCHEMES:
            assert f"{scheme}://" in str(info.value)
        assert "secret" not in str(info.value)

    @pytest.mark.parametrize("url", ["", "hpo.sqlite", None, 42])
    def test_not_a_url(self, url: object) -> None:
        with pytest.raises(ValueError, match="scheme"):
            open_store(url)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "url", ["sqlite://", "sqlite:///", "sqlite://host/x.db", "sqlite:///x.db?bad"]
    )
    def test_malformed_sqlite(self, url: str) -> None:
        with pytest.raises(ValueError, match="url"):
            open_store(url)

    def test_unknown_sqlite_option(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="busy_timeout"):
            open_store(f"sqlite:///{tmp_path / 'x.db'}", pool=3)

    def test_bad_sqlite_option_value(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="busy_timeout"):
            open_store(f"sqlite:///{tmp_path / 'x.db'}?busy_timeout=soon")

    def test_sqlite_directory_must_exist(self, tmp_path: Path) -> None:
        missing = tmp_path / "no" / "such"
        with pytest.raises(StoreConnectionError, match="directory") as info:
            open_store(f"sqlite:///{missing / 'x.db'}")
        assert str(missing) in str(info.value)
        assert not missing.exists()

    def test_unknown_mongomock_option(self, mock_name: str) -> None:
        with pytest.raises(ValueError, match="retry_timeout"):
            open_store(f"mongomock://{mock_name}", tls=True)


class TestMongoErrors:
    def test_unreachable_server_fails_fast_without_the_password(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        with pytest.raises(StoreConnectionError) as info:
            open_store(UNREACHABLE)
        message = str(info.value)
        assert "user:***@127.0.0.1:1" in message
        assert "secret" not in chain_text(info.value)
        assert "secret" not in caplog.text

    def test_connect_timeout_option(self) -> None:
        with held_port() as sock:  # takes connections, never answers
            sock.listen()
            port = sock.getsockname()[1]
            with pytest.raises(StoreConnectionError, match=r"within 0\.3 s"):
                open_store(f"mongodb://u:secret@127.0.0.1:{port}/", connect_timeout=0.3)

    @pytest.mark.parametrize(
        "url",
        [
            "mongodb://user:secret@host:notaport/",
            "mongodb://user:secret@/db",
            "mongodb://user:secret@host/bad$name",
        ],
    )
    def test_invalid_url_is_a_value_error_without_the_password(self, url: str) -> None:
        with pytest.raises(ValueError) as info:
            open_store(url)
        assert "secret" not in chain_text(info.value)

    def test_unknown_client_option_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="bogus"):
            open_store("mongodb://user:secret@127.0.0.1:1/", bogus=1)

    def test_bad_connect_timeout(self) -> None:
        with pytest.raises(ValueError, match="connect_timeout"):
            open_store("mongodb://127.0.0.1:1/", connect_timeout=0)


class TestMasking:
    @pytest.mark.parametrize(
        ("url", "masked"),
        [
            ("mongodb://u:pw@h:27017/db", "mongodb://u:***@h:27017/db"),
            (
                "mongodb+srv://u:p%40ss@cluster/db?w=1",
                "mongodb+srv://u:***@cluster/db?w=1",
            ),
            ("mongodb://u@h/db", "mongodb://u@h/db"),
            ("mongodb://h1,h2/db?replicaSet=rs", "mongodb://h1,h2/db?replicaSet=rs"),
            ("mongodb://u:p@ss/w?rd@h/db", "mongodb://u:***@h/db"),
            ("mongodb://u:pw@h/?appName=a@b", "mongodb://u:***@b"),  # over-masks
            (
                "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=pw",
                "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=***",
            ),
            ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
            ("not a url", "not a url"),
        ],
    )
    def test_mask_url(self, url: str, masked: str) -> None:
        assert mask_url(url) == masked

    def test_scrubber_removes_raw_and_decoded_password(self) -> None:
        scrub = make_scrubber("mongodb://u:p%40ss@h/db")
        text = scrub("auth p@ss failed for mongodb://u:p%40ss@h/db (p%40ss)")
        assert "p@ss" not in text and "p%40ss" not in text
        assert "mongodb://u:***@h/db" in text


class TestHyperoptMongoUrls:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("mongo://localhost:1234/foo_db/jobs", "mongodb://localhost:1234/foo_db"),
            ("mongo://u:p%40w@h:1/db/jobs", "mongodb://u:p%40w@h:1/db"),
            (
                "mongo://h1:1,h2:2/db/jobs?replicaSet=rs",
                "mongodb://h1:1,h2:2/db?replicaSet=rs",
            ),
            ("mongo://h/db", "mongodb://h/db"),
            ("localhost:1234/foo_db", "mongodb://localhost:1234/foo_db"),  # --mongo
        ],
    )
    def test_hyperopt_form_becomes_a_mongodb_url(self, url: str, expected: str) -> None:
        assert mongodb_url_of_hyperopt(url) == expected

    @pytest.mark.parametrize("url", ["mongo://h:1", "mongo://h:1/", "mongo:///db/jobs"])
    def test_a_database_is_required(self, url: str) -> None:
        with pytest.raises(ValueError, match="mongo://host:port/database/jobs"):
            mongodb_url_of_hyperopt(url)

    def test_the_scheme_is_accepted_and_its_password_masked(self) -> None:
        assert split_scheme("mongo://h/db/jobs") == ("mongo", "h/db/jobs")
        assert mask_url("mongo://u:secret@h/db/jobs") == "mongo://u:***@h/db/jobs"
        with pytest.raises(ValueError, match="database") as info:
            mongodb_url_of_hyperopt("mongo://u:secret@h:1")
        assert "secret" not in str(info.value)
