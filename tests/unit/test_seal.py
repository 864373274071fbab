"""The pure half of tamper evidence: hashes, Merkle paths, keys and signed checkpoints."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from projections.seal.proofs import (
    ZERO_DIGEST,
    Checkpoint,
    SealError,
    chain_digest,
    content_hash,
    event_chainer,
    heads_root,
    load_signing_key,
    merkle_paths,
    merkle_root,
    public_key_bytes,
    raw_event_chainer,
    root_from_path,
    sign_checkpoint,
    verify_proof,
)


@given(st.integers(min_value=1, max_value=40))
def test_every_leaf_s_path_leads_to_the_root(count: int) -> None:
    leaves = [hashlib.sha256(str(n).encode()).digest() for n in range(count)]
    root = merkle_root(leaves)
    paths = merkle_paths(leaves, range(count))
    for index, leaf in enumerate(leaves):
        assert root_from_path(leaf, paths[index]) == root
        assert root_from_path(ZERO_DIGEST, paths[index]) != root


@given(st.integers(min_value=2, max_value=20), st.data())
def test_changing_or_dropping_any_leaf_changes_the_root(count: int, data: st.DataObject) -> None:
    leaves = [hashlib.sha256(str(n).encode()).digest() for n in range(count)]
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    changed = list(leaves)
    changed[index] = ZERO_DIGEST
    assert merkle_root(changed) != merkle_root(leaves)
    assert merkle_root(leaves[:index] + leaves[index + 1:]) != merkle_root(leaves)


def test_fields_are_framed_so_moving_a_boundary_changes_the_hash() -> None:
    assert content_hash(1, "ab", 1, "c", b"x") != content_hash(1, "a", 1, "bc", b"x")
    assert content_hash(1, "a", 1, "b", b"cx") != content_hash(1, "a", 1, "bc", b"x")
    assert content_hash(1, "a", 2, "t", b"s") != content_hash(2, "a", 1, "t", b"s")


@given(st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 2**62),
                          st.text(max_size=40), st.integers(1, 2**62),
                          st.sampled_from(["a.B", "fundledger.x.Y", "话题"]), st.binary()),
                max_size=20))
def test_the_walks_one_call_digest_is_the_two_hashes_it_stands_for(
        events: list[tuple[bytes, int, str, int, str, bytes]]) -> None:
    """``event_chainer`` is what the sealer and verify use per event: any difference from
    ``chain_digest(content_hash(...))``, which proofs and exports use, would fail every log."""
    chained, raw_chained = event_chainer(), raw_event_chainer()
    for previous, position, key, version, topic, state in events * 2:  # the topic cache too
        expected = chain_digest(previous, content_hash(position, key, version, topic, state))
        assert chained(previous, position, key, version, topic, state) == expected
        assert raw_chained(previous, position, key.encode(), version, topic.encode(),
                           state) == expected


def test_a_chain_depends_on_order() -> None:
    one, two = content_hash(1, "a", 1, "t", b"1"), content_hash(2, "a", 2, "t", b"2")
    assert chain_digest(chain_digest(ZERO_DIGEST, one), two) != chain_digest(
        chain_digest(ZERO_DIGEST, two), one)


def test_heads_are_sorted_by_stream_so_the_root_does_not_depend_on_their_order() -> None:
    heads = [("b", 2, ZERO_DIGEST), ("a", 1, b"\x01" * 32), ("c", 7, b"\x02" * 32)]
    assert heads_root(heads)[0] == heads_root(reversed(heads))[0]
    assert heads_root([])[0] != heads_root(heads[:1])[0]


def test_the_signing_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    key = load_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_bytes(load_signing_key(path)) == public_key_bytes(key)
    with pytest.raises(SealError):
        load_signing_key(tmp_path / "missing.key", create=False)


def test_a_checkpoint_s_signature_covers_every_field() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = sign_checkpoint(key, ledger="FundLedger", position=10, events=10, streams=3,
                                 root=b"\x07" * 32)
    checkpoint.verify(public_key_bytes(key))
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    for edited in (replace(checkpoint, position=11), replace(checkpoint, events=9),
                   replace(checkpoint, heads_root=ZERO_DIGEST),
                   replace(checkpoint, created="2020-01-01T00:00:00+00:00"),
                   replace(checkpoint, ledger="Other")):
        with pytest.raises(SealError, match="forged or the checkpoint was altered"):
            edited.verify()
    other = Ed25519PrivateKey.generate()
    with pytest.raises(SealError, match="another key"):
        checkpoint.verify(public_key_bytes(other))


def test_what_is_not_a_proof_is_refused() -> None:
    key = public_key_bytes(Ed25519PrivateKey.generate())
    with pytest.raises(SealError):
        verify_proof({"format": "something else"}, key)
    with pytest.raises(SealError):
        verify_proof({"format": "fundledger-proof/1"}, key)
