"""Tamper evidence without a database: event digests, stream chains, signed checkpoints.

Everything here is pure (hashing, a Merkle tree, Ed25519 signatures, JSON) so that an auditor
can check a proof or an exported bundle on a machine with no server and no database. The
store-side part (sealing the log as it grows, verifying a whole ledger, making proofs and
exports) is the rest of ``projections.seal``: ``sealer`` and ``evidence``.

The hashes
    ``content_hash`` covers one stored event exactly as stored: its log position
    (notification id), originator id, version, topic and state bytes, each length-framed so
    no two different events can share an encoding. ``chain_digest(previous, content)``
    binds it to its stream: a stream's first event chains from ``ZERO_DIGEST``. A stream's
    *head* is its last event's digest; changing, removing or reordering any earlier event
    changes it.

The checkpoint
    The heads of all streams up to a log position are the leaves of a Merkle tree, sorted by
    originator id; the checkpoint signs its root with the ledger's Ed25519 key, together
    with the position and the number of events and streams. A proof of one event is then
    its content, the hashes of the later events of its stream up to the checkpoint, the
    Merkle path of the stream's head and the signed checkpoint: a few kilobytes, checked by
    ``verify_proof`` with nothing but the ledger's public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.ids import committee_id, community_id, contract_id, posting_id, unit_account_id

ZERO_DIGEST = bytes(32)
CHECKPOINT_FORMAT = "fundledger-checkpoint/1"
PROOF_FORMAT = "fundledger-proof/1"
BUNDLE_FORMAT = "fundledger-bundle/1"

_EVENT_PREFIX = b"fundledger/event/1\n"
_CHAIN_PREFIX = b"fundledger/chain/1\n"
_LEAF_PREFIX = b"\x00fundledger/head/1\n"
_NODE_PREFIX = b"\x01"
_EMPTY_ROOT = hashlib.sha256(b"fundledger/no-streams/1\n").digest()
_INT_PAIR = struct.Struct(">qq")
# position, version, then the lengths of the originator id, topic and state that follow
_EVENT_HEADER = struct.Struct(">qqQQQ")
_LENGTH = struct.Struct(">Q")


class SealError(Exception):
    """A proof, bundle or checkpoint does not check out; the message says what failed."""


# -- hashing --------------------------------------------------------------------------------


def stream_key(originator_id: UUID | str) -> str:
    """An originator id as hashed: a UUID's 32 hex digits, as SQLite stores it."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def content_hash(position: int, originator_key: str, version: int, topic: str,
                 state: bytes) -> bytes:
    """SHA-256 of one stored event as stored, every field length-framed."""
    key = originator_key.encode()
    topic_bytes = topic.encode()
    return hashlib.sha256(b"".join((
        _EVENT_PREFIX, _EVENT_HEADER.pack(position, version, len(key), len(topic_bytes),
                                          len(state)),
        key, topic_bytes, state))).digest()


def chain_digest(previous: bytes, content: bytes) -> bytes:
    return hashlib.sha256(_CHAIN_PREFIX + previous + content).digest()


def event_chainer() -> Callable[[bytes, int, str, int, str, bytes], bytes]:
    """``chain_digest(previous, content_hash(position, key, version, topic, state))`` as one
    call, for walking the whole log: the two hashes inlined and each topic encoded once.
    A verify spends most of its time here (two calls per event cost a fifth of it)."""
    sha256, pack, topics = hashlib.sha256, _EVENT_HEADER.pack, dict[str, bytes]()
    event_prefix, chain_prefix = _EVENT_PREFIX, _CHAIN_PREFIX

    def chained(previous: bytes, position: int, originator_key: str, version: int,
                topic: str, state: bytes) -> bytes:
        key = originator_key.encode()
        topic_bytes = topics.get(topic)
        if topic_bytes is None:
            topic_bytes = topics[topic] = topic.encode()
        content = sha256(b"".join((
            event_prefix, pack(position, version, len(key), len(topic_bytes), len(state)),
            key, topic_bytes, state))).digest()
        return sha256(chain_prefix + previous + content).digest()

    return chained


def raw_event_chainer() -> Callable[[bytes, int, bytes, int, bytes, bytes], bytes]:
    """``event_chainer`` for an event read as bytes: its stream's key as hex digits and its
    topic already encoded (what the walk in parallel reads, decoding neither)."""
    sha256, pack = hashlib.sha256, _EVENT_HEADER.pack
    event_prefix, chain_prefix = _EVENT_PREFIX, _CHAIN_PREFIX

    def chained(previous: bytes, position: int, key: bytes, version: int, topic: bytes,
                state: bytes) -> bytes:
        content = sha256(b"".join((
            event_prefix, pack(position, version, len(key), len(topic), len(state)),
            key, topic, state))).digest()
        return sha256(chain_prefix + previous + content).digest()

    return chained


def leaf_hash(originator_key: str, version: int, digest: bytes) -> bytes:
    key = originator_key.encode()
    return hashlib.sha256(b"".join((
        _LEAF_PREFIX, _LENGTH.pack(len(key)), key, _INT_PAIR.pack(version, 0), digest))).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """The tree, leaves first, root last; an odd node is carried up unchanged."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        levels.append(paired)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return merkle_levels(leaves)[-1][0] if leaves else _EMPTY_ROOT


def merkle_path(levels: Sequence[Sequence[bytes]], index: int) -> list[list[str]]:
    """A leaf's path: ``[side, sibling hex]`` from the leaf upwards, ``"L"`` for a left one."""
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(["L" if sibling < index else "R", level[sibling].hex()])
        index //= 2
    return path


def merkle_paths(leaves: Sequence[bytes], wanted: Iterable[int]) -> dict[int, list[list[str]]]:
    levels = merkle_levels(leaves)
    return {index: merkle_path(levels, index) for index in wanted}


def root_from_path(leaf: bytes, path: Sequence[Sequence[str]]) -> bytes:
    node = leaf
    for step in path:
        if len(step) != 2 or step[0] not in ("L", "R"):
            raise SealError(f"a Merkle path step is malformed: {step!r}")
        sibling = _hex(step[1], 32, "a Merkle path step")
        node = _node(sibling, node) if step[0] == "L" else _node(node, sibling)
    return node


def heads_root(heads: Iterable[tuple[str, int, bytes]]) -> tuple[bytes, list[str], list[bytes]]:
    """The Merkle root over stream heads ``(key, version, digest)``, and the sorted leaves."""
    ordered = sorted(heads)
    keys = [key for key, _, _ in ordered]
    leaves = [leaf_hash(key, version, digest) for key, version, digest in ordered]
    return merkle_root(leaves), keys, leaves


# -- keys and checkpoints ----------------------------------------------------------------------


def signing_key_path() -> Path:
    """Where the ledger's private key lives (``Settings.signing_key_file``, from
    ``FUNDLEDGER_SIGNING_KEY_FILE``)."""
    from ledger.settings import Settings

    return Settings().signing_key_file


def load_signing_key(path: Path | None = None, *, create: bool = True) -> Ed25519PrivateKey:
    """The ledger's Ed25519 key (PKCS#8 PEM), made on first use readable by its owner only."""
    path = path or signing_key_path()
    if not path.exists():
        if not create:
            raise SealError(f"no signing key at {path}")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # O_EXCL: two processes making the first key at once must not both win.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_signing_key(path, create=False)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SealError(f"{path} holds no Ed25519 private key")
    return loaded


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def as_public_key(key: Ed25519PublicKey | bytes | str) -> Ed25519PublicKey:
    """A public key from itself, its 32 raw bytes, or their hex."""
    if isinstance(key, Ed25519PublicKey):
        return key
    raw = _hex(key, 32, "the public key") if isinstance(key, str) else key
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as error:
        raise SealError(f"not an Ed25519 public key: {error}") from None


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement: up to ``position`` the log held these events and stream heads."""

    ledger: str
    position: int
    events: int
    streams: int
    heads_root: bytes
    created: str
    signature: bytes
    public_key: bytes

    def payload(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "ledger": self.ledger, "position": self.position,
                "events": self.events, "streams": self.streams,
                "heads_root": self.heads_root.hex(), "created": self.created}

    def signed_bytes(self) -> bytes:
        return canonical_json(self.payload())

    def to_json(self) -> dict[str, Any]:
        return {**self.payload(), "signature": self.signature.hex(),
                "public_key": self.public_key.hex()}

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise SealError(f"not a {CHECKPOINT_FORMAT} checkpoint")
        try:
            return cls(str(data["ledger"]), _int(data["position"]), _int(data["events"]),
                       _int(data["streams"]), _hex(data["heads_root"], 32, "heads_root"),
                       str(data["created"]), _hex(data["signature"], 64, "signature"),
                       _hex(data["public_key"], 32, "public_key"))
        except KeyError as missing:
            raise SealError(f"the checkpoint lacks {missing}") from None

    def verify(self, trusted: Ed25519PublicKey | bytes | str | None = None) -> None:
        """Raise ``SealError`` unless the signature is good (and by ``trusted``, if given)."""
        if trusted is not None and public_key_bytes(as_public_key(trusted)) != self.public_key:
            raise SealError(f"checkpoint at position {self.position} is signed by another key "
                            f"({self.public_key.hex()[:16]}...), not the trusted one")
        try:
            as_public_key(self.public_key).verify(self.signature, self.signed_bytes())
        except InvalidSignature:
            raise SealError(
                f"checkpoint at position {self.position}: the signature is forged or the "
                "checkpoint was altered") from None


def sign_checkpoint(key: Ed25519PrivateKey, *, ledger: str, position: int, events: int,
                    streams: int, root: bytes, created: datetime | None = None) -> Checkpoint:
    when = (created or datetime.now(UTC)).isoformat()
    unsigned = Checkpoint(ledger, position, events, streams, root, when, b"",
                          public_key_bytes(key))
    return Checkpoint(ledger, position, events, streams, root, when,
                      key.sign(unsigned.signed_bytes()), unsigned.public_key)


def read_checkpoint_file(path: Path) -> Checkpoint:
    try:
        return Checkpoint.from_json(json.loads(path.read_bytes()))
    except (OSError, ValueError) as error:
        raise SealError(f"cannot read checkpoint {path}: {error}") from None


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- events as JSON ------------------------------------------------------------------------------


def event_json(position: int, originator_key: str, version: int, topic: str,
               state: bytes) -> dict[str, Any]:
    """A stored event for a proof or bundle: state as its exact text (base64 if not UTF-8)."""
    data: dict[str, Any] = {"position": position, "originator_id": originator_key,
                            "version": version, "topic": topic}
    try:
        data["state"] = state.decode()
    except UnicodeDecodeError:
        data["state_b64"] = base64.b64encode(state).decode()
    return data


def _event_fields(data: Any) -> tuple[int, str, int, str, bytes]:
    if not isinstance(data, dict):
        raise SealError("an event is not a JSON object")
    try:
        if "state" in data:
            if "state_b64" in data or not isinstance(data["state"], str):
                raise SealError("an event's state is malformed")
            state = data["state"].encode()
        else:
            state = base64.b64decode(data["state_b64"], validate=True)
        key, topic = data["originator_id"], data["topic"]
        if not isinstance(key, str) or not isinstance(topic, str):
            raise SealError("an event's originator id or topic is not text")
        return _int(data["position"]), key, _int(data["version"]), topic, state
    except KeyError as missing:
        raise SealError(f"an event lacks {missing}") from None
    except ValueError as error:
        raise SealError(f"an event's state is not base64: {error}") from None


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SealError(f"expected a whole number, got {value!r}")
    return value


def _hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length or value != value.lower():
        raise SealError(f"{what} is not {length} bytes of lower-case hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SealError(f"{what} is not {length} bytes of lower-case hex") from None


# -- proofs -------------------------------------------------------------------------------------


def verify_proof(proof: dict[str, Any] | str | bytes,
                 public_key: Ed25519PublicKey | bytes | str) -> bool:
    """Check a proof of one event offline; True, or ``SealError`` saying what failed.

    The event's content and its predecessor's digest give its digest; the later events'
    content hashes carry it to the stream's head; the head's Merkle path gives the root the
    checkpoint signs; the signature must be by ``public_key`` (the ledger's, as the auditor
    holds it: never take it from the proof itself).
    """
    data = json.loads(proof) if isinstance(proof, str | bytes) else proof
    if not isinstance(data, dict) or data.get("format") != PROOF_FORMAT:
        raise SealError(f"not a {PROOF_FORMAT} proof")
    try:
        checkpoint = Checkpoint.from_json(data["checkpoint"])
        checkpoint.verify(public_key)
        position, key, version, topic, state = _event_fields(data["event"])
        if position > checkpoint.position:
            raise SealError(f"the event at position {position} is after the checkpoint "
                            f"at {checkpoint.position}")
        digest = chain_digest(_hex(data["previous_digest"], 32, "previous_digest"),
                              content_hash(position, key, version, topic, state))
        last_position, last_version = position, version
        for later in data["later"]:
            later_position, later_version = _int(later["position"]), _int(later["version"])
            if later_version != last_version + 1 or not (
                    last_position < later_position <= checkpoint.position):
                raise SealError(f"a later event (version {later_version}, position "
                                f"{later_position}) is out of order")
            digest = chain_digest(digest, _hex(later["content_hash"], 32, "content_hash"))
            last_position, last_version = later_position, later_version
        head = data["head"]
        if (head.get("originator_id"), head.get("version")) != (key, last_version):
            raise SealError("the head is not the event's stream at its last version")
        if _hex(head["digest"], 32, "head digest") != digest:
            raise SealError(f"stream {key}: the chain from version {version} does not reach "
                            "the sealed head (the event or a later one was altered)")
        root = root_from_path(leaf_hash(key, last_version, digest), data["merkle_path"])
    except (KeyError, TypeError, AttributeError) as error:
        raise SealError(f"the proof is malformed: {error!r}") from None
    if root != checkpoint.heads_root:
        raise SealError("the stream's head is not among the heads the checkpoint signs")
    return True


# -- bundles ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleReport:
    community: str
    streams: int
    events: int
    checkpoint: Checkpoint


def verify_bundle(file: IO[bytes],
                  public_key: Ed25519PublicKey | bytes | str | None = None) -> BundleReport:
    """Check an exported community history offline; its report, or ``SealError``.

    Every stream must start at version 1 with contiguous versions in log order, its chain
    must end at its head line's digest, the head must be in the checkpoint's Merkle tree,
    and the checkpoint must be signed (by ``public_key``, when the auditor pins one).
    """
    lines = file.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        records = [json.loads(line) for line in lines]
    except ValueError as error:
        raise SealError(f"the bundle is not JSON lines: {error}") from None
    if len(records) < 2 or not all(isinstance(r, dict) for r in records):
        raise SealError("the bundle has no header and checkpoint")
    header, checkpoint_json = records[0], records[-1]
    if header.get("kind") != "bundle" or header.get("format") != BUNDLE_FORMAT:
        raise SealError(f"not a {BUNDLE_FORMAT} bundle")
    if checkpoint_json.get("kind") != "checkpoint":
        raise SealError("the bundle does not end with its checkpoint")
    checkpoint = Checkpoint.from_json({k: v for k, v in checkpoint_json.items() if k != "kind"})
    checkpoint.verify(public_key)
    try:
        return _verify_bundle_records(header, records[1:-1], checkpoint)
    except (KeyError, TypeError, AttributeError) as error:
        raise SealError(f"the bundle is malformed: {error!r}") from None


def _verify_bundle_records(header: dict[str, Any], records: list[Any],
                           checkpoint: Checkpoint) -> BundleReport:
    if set(header) != {"kind", "format", "community", "streams", "events", "position"}:
        raise SealError("the bundle's header has unknown or missing fields")
    community = header["community"]
    if not isinstance(community, str) or _int(header["position"]) != checkpoint.position:
        raise SealError("the header's community or position does not match the checkpoint")
    chains: dict[str, tuple[int, int, bytes]] = {}  # key -> (version, position, digest)
    own = community_id(community).hex
    named: dict[str, str] = {}  # streams the community's own events name -> what they are
    last_position = None
    events = 0
    heads_seen = 0
    for record in records:
        kind = record.get("kind")
        if kind == "event":
            if set(record) - {"kind", "position", "originator_id", "version", "topic", "state",
                              "state_b64", "digest"}:
                raise SealError("an event line has unknown fields")
            position, key, version, topic, state = _event_fields(record)
            if last_position is not None and position <= last_position:
                raise SealError(f"events are not in log order at position {position}")
            if position > checkpoint.position:
                raise SealError(f"event at position {position} is after the checkpoint")
            previous_version, _, previous = chains.get(key, (0, 0, ZERO_DIGEST))
            if version != previous_version + 1:
                raise SealError(f"stream {key}: version {version} at position {position} "
                                f"follows version {previous_version}")
            digest = chain_digest(previous, content_hash(position, key, version, topic, state))
            if _hex(record["digest"], 32, "an event's digest") != digest:
                raise SealError(f"stream {key} version {version} at position {position}: "
                                "its content does not match its digest")
            chains[key] = (version, position, digest)
            if key == own:
                named.update(_named_streams(community, topic, state))
            last_position = position
            events += 1
        elif kind == "head":
            if set(record) != {"kind", "originator_id", "version", "digest", "merkle_path"}:
                raise SealError("a head line has unknown or missing fields")
            key = record["originator_id"]
            if key not in chains:
                raise SealError(f"a head for stream {key!r}, which has no events here")
            version, _, digest = chains[key]
            if (_int(record["version"]), _hex(record["digest"], 32, "a head digest")) != (
                    version, digest):
                raise SealError(f"stream {key}: the bundle's events end at version {version}, "
                                "not at the sealed head")
            leaf = leaf_hash(key, version, digest)
            if root_from_path(leaf, record["merkle_path"]) != checkpoint.heads_root:
                raise SealError(f"stream {key}: its head is not among the checkpoint's heads")
            heads_seen += 1
        else:
            raise SealError(f"a line of unknown kind {kind!r}")
    if heads_seen != len(chains):
        raise SealError("a stream in the bundle has no head line")
    if (_int(header["streams"]), _int(header["events"])) != (len(chains), events):
        raise SealError("the header's counts do not match the bundle's lines")
    if own not in chains:
        raise SealError(f"the bundle lacks community {community!r}'s own stream")
    missing = sorted(what for key, what in named.items() if key not in chains)
    if missing:
        raise SealError(f"the bundle lacks streams the community's own events name: "
                        f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return BundleReport(community, len(chains), events, checkpoint)


def _named_streams(code: str, topic: str, state: bytes) -> dict[str, str]:
    """The streams one event of a community's own stream says belong to its history.

    Units, postings, committees and contracts are registered in the community's stream, so a
    bundle missing one of them is incomplete; votes are not (a vote names its community, the
    community does not list its votes), so their completeness rests on the exporter.
    """
    kind = topic.rsplit(".", 1)[-1]
    if kind not in ("UnitsAdded", "PostingRecorded", "CommitteeRecorded",
                    "ServiceContractRecorded"):
        return {}
    try:
        data = json.loads(state)
        if kind == "UnitsAdded":
            return {unit_account_id(code, building, unit).hex: f"unit {key}"
                    for key, building, unit in data["units"]}
        if kind == "PostingRecorded":
            return {posting_id(data["reference"]).hex: f"posting {data['reference']}"}
        if kind == "CommitteeRecorded":
            reference = data["committee_reference"]
            return {committee_id(code, reference).hex: f"committee {reference}"}
        reference = data["contract_reference"]
        return {contract_id(code, reference).hex: f"contract {reference}"}
    except (ValueError, KeyError, TypeError):
        raise SealError(f"the community's {kind} event is not what it should be") from None
