"""Owner names in lease columns, and which rows an earlier process of a replica left."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from app.core.config import Settings
from app.core.leases import REPLICA_CHARS, left_by_earlier_process, new_owner, replica_prefix

ROWS = Table(
    "rows", MetaData(), Column("id", Integer, primary_key=True), Column("owner", String(64))
)


def earlier(owners: list[str], replica: str, me: str) -> list[str]:
    engine = create_engine("sqlite://")
    ROWS.metadata.create_all(engine)
    with engine.begin() as db:
        db.execute(insert(ROWS), [{"owner": owner} for owner in owners])
        found = db.execute(
            select(ROWS.c.owner).where(left_by_earlier_process(ROWS.c.owner, replica, me))
        )
        return sorted(found.scalars())


def test_an_owner_starts_with_its_replica_and_fits_the_column() -> None:
    assert new_owner("host:8000").startswith("host:8000/")
    assert new_owner("host:8000") != new_owner("host:8000")  # one process, two runners
    assert len(new_owner("x" * 200)) <= 64


def test_rows_of_an_earlier_process_of_the_same_replica_are_found() -> None:
    me = new_owner("host:8000")
    crashed, other = new_owner("host:8000"), new_owner("host:8001")
    assert earlier([me, crashed, other], "host:8000", me) == [crashed]


def test_a_replica_name_longer_than_an_owner_keeps_is_still_found() -> None:
    # Pod names can be long: the owner keeps the first REPLICA_CHARS of the name.
    replica = "ownvoice-app-server-" + "7d9f8c6b5-" * 4 + ":8000"
    assert len(replica) > REPLICA_CHARS
    me, crashed = new_owner(replica), new_owner(replica)
    assert earlier([me, crashed], replica, me) == [crashed]


def test_like_wildcards_in_a_replica_name_match_only_themselves() -> None:
    me = new_owner("a_b%:1")
    lookalike = new_owner("aXbY:1")  # "_" and "%" would match these in a bare LIKE
    crashed = new_owner("a_b%:1")
    assert earlier([me, lookalike, crashed], "a_b%:1", me) == [crashed]


def test_long_replica_names_that_differ_only_at_their_end_stay_apart() -> None:
    pod = "ownvoice-backend-production-7d9f8c6b5-"
    first, second = replica_prefix(pod + "x2k4p:8000"), replica_prefix(pod + "q8w3z:8000")
    assert first != second and len(first) == REPLICA_CHARS + 1
    me, other = new_owner(pod + "x2k4p:8000"), new_owner(pod + "q8w3z:8000")
    assert earlier([me, other], pod + "x2k4p:8000", me) == []


def test_an_empty_replica_id_is_the_default_and_one_with_a_slash_is_refused() -> None:
    settings = Settings(OWNVOICE_REPLICA_ID="", OWNVOICE_PORT=8123)
    assert settings.replica == f"{socket.gethostname()}:8123"
    assert Settings(OWNVOICE_REPLICA_ID="app-1").replica == "app-1"
    with pytest.raises(ValidationError):
        Settings(OWNVOICE_REPLICA_ID="a/b")  # "a" would take back the jobs of "a/b"
