// The ledger's proofs and bundles, checked in the reader's browser: SHA-256 and Ed25519 from
// Web Crypto, nothing from the server. The same checks, in the same order and with the same
// framing, as projections/seal/proofs.py (verify_proof, verify_bundle); a change there must be
// made here too (tests/e2e/test_officials_browser.py checks both on the same demo proof).
// Each failure names what failed: the checkpoint, or the event (log position, stream, version,
// topic), so a reader knows where the one changed byte is.
(function () {
  "use strict";
  var PROOF_FORMAT = "fundledger-proof/1";
  var BUNDLE_FORMAT = "fundledger-bundle/1";
  var CHECKPOINT_FORMAT = "fundledger-checkpoint/1";
  var NAMESPACE = "6f1c2a8e3d4b5e6f8a9b0c1d2e3f4a5b";
  var utf8 = new TextEncoder();
  var subtle = window.crypto && window.crypto.subtle;

  function SealError(message, where) {
    this.message = message;
    this.where = where || null;  // {kind: "checkpoint"} or {kind: "event", position, ...}
  }

  function ascii(text) { return utf8.encode(text); }
  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size), at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }
  function u64(values) {  // big-endian 64-bit integers (struct ">q"/">Q")
    var out = new Uint8Array(8 * values.length), view = new DataView(out.buffer);
    values.forEach(function (v, i) { view.setBigUint64(8 * i, BigInt.asUintN(64, BigInt(v))); });
    return out;
  }
  function toHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function equal(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }
  function sha256(bytes) {
    return subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }

  function whole(value) {
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      throw new SealError("expected a whole number, got " + JSON.stringify(value));
    }
    return value;
  }
  function hex(value, length, what) {
    if (typeof value !== "string" || value.length !== 2 * length || !/^[0-9a-f]*$/.test(value)) {
      throw new SealError(what + " is not " + length + " bytes of lower-case hex");
    }
    var out = new Uint8Array(length);
    for (var i = 0; i < length; i++) { out[i] = parseInt(value.substr(2 * i, 2), 16); }
    return out;
  }
  function base64(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw new SealError("an event's state is not base64");
    }
    var raw = atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }
  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }
  function need(obj, key) {
    if (obj === null || typeof obj !== "object" || !has(obj, key)) {
      throw new SealError("the proof is malformed: it lacks '" + key + "'");
    }
    return obj[key];
  }

  // json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
  function canonical(value) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return "{" + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ":" + canonical(value[k]);
      }).join(",") + "}";
    }
    if (Array.isArray(value)) { return "[" + value.map(canonical).join(",") + "]"; }
    return JSON.stringify(value);
  }

  // -- hashing (proofs.py: content_hash, chain_digest, leaf_hash, _node) ----------------------
  function contentHash(position, key, version, topic, state) {
    var k = ascii(key), t = ascii(topic);
    return sha256(concat([ascii("fundledger/event/1\n"),
                          u64([position, version, k.length, t.length, state.length]), k, t, state]));
  }
  function chainDigest(previous, content) {
    return sha256(concat([ascii("fundledger/chain/1\n"), previous, content]));
  }
  function leafHash(key, version, digest) {
    var k = ascii(key);
    return sha256(concat([new Uint8Array([0]), ascii("fundledger/head/1\n"), u64([k.length]), k,
                          u64([version, 0]), digest]));
  }
  function node(left, right) { return sha256(concat([new Uint8Array([1]), left, right])); }
  async function rootFromPath(leaf, path) {
    if (!Array.isArray(path)) { throw new SealError("the Merkle path is not a list"); }
    var current = leaf;
    for (var i = 0; i < path.length; i++) {
      var step = path[i];
      if (!Array.isArray(step) || step.length !== 2 || (step[0] !== "L" && step[0] !== "R")) {
        throw new SealError("a Merkle path step is malformed: " + JSON.stringify(step));
      }
      var sibling = hex(step[1], 32, "a Merkle path step");
      current = step[0] === "L" ? await node(sibling, current) : await node(current, sibling);
    }
    return current;
  }

  // -- checkpoint ------------------------------------------------------------------------------
  function readCheckpoint(data) {
    if (data === null || typeof data !== "object" || data.format !== CHECKPOINT_FORMAT) {
      throw new SealError("not a " + CHECKPOINT_FORMAT + " checkpoint", { kind: "checkpoint" });
    }
    ["ledger", "position", "events", "streams", "heads_root", "created", "signature",
     "public_key"].forEach(function (k) {
      if (!has(data, k)) { throw new SealError("the checkpoint lacks '" + k + "'", { kind: "checkpoint" }); }
    });
    return {
      ledger: String(data.ledger), position: whole(data.position), events: whole(data.events),
      streams: whole(data.streams), heads_root: hex(data.heads_root, 32, "heads_root"),
      created: String(data.created), signature: hex(data.signature, 64, "signature"),
      public_key: hex(data.public_key, 32, "public_key")
    };
  }
  async function verifyCheckpoint(cp, trusted) {
    var where = { kind: "checkpoint", position: cp.position };
    if (trusted && !equal(trusted, cp.public_key)) {
      throw new SealError("checkpoint at position " + cp.position + " is signed by another key (" +
                          toHex(cp.public_key).slice(0, 16) + "...), not the trusted one", where);
    }
    var payload = ascii(canonical({
      format: CHECKPOINT_FORMAT, ledger: cp.ledger, position: cp.position, events: cp.events,
      streams: cp.streams, heads_root: toHex(cp.heads_root), created: cp.created }));
    var key, good;
    try {
      key = await subtle.importKey("raw", cp.public_key, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      throw new SealError("not an Ed25519 public key", where);
    }
    good = await subtle.verify({ name: "Ed25519" }, key, cp.signature, payload);
    if (!good) {
      throw new SealError("checkpoint at position " + cp.position + ": the signature is forged " +
                          "or the checkpoint was altered", where);
    }
  }

  function eventFields(data) {
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new SealError("an event is not a JSON object");
    }
    var state;
    if (has(data, "state")) {
      if (has(data, "state_b64") || typeof data.state !== "string") {
        throw new SealError("an event's state is malformed");
      }
      state = ascii(data.state);
    } else {
      state = base64(need(data, "state_b64"));
    }
    var key = need(data, "originator_id"), topic = need(data, "topic");
    if (typeof key !== "string" || typeof topic !== "string") {
      throw new SealError("an event's originator id or topic is not text");
    }
    return { position: whole(need(data, "position")), key: key,
             version: whole(need(data, "version")), topic: topic, state: state };
  }
  function eventWhere(e) {
    return { kind: "event", position: e.position, stream: e.key, version: e.version, topic: e.topic };
  }

  // -- a proof (verify_proof) ----------------------------------------------------------------
  async function verifyProof(data, trusted) {
    if (data === null || typeof data !== "object" || data.format !== PROOF_FORMAT) {
      throw new SealError("not a " + PROOF_FORMAT + " proof");
    }
    var cp = readCheckpoint(need(data, "checkpoint"));
    await verifyCheckpoint(cp, trusted);
    var e = eventFields(need(data, "event"));
    var where = eventWhere(e);
    if (e.position > cp.position) {
      throw new SealError("the event at position " + e.position + " is after the checkpoint at " +
                          cp.position, where);
    }
    var digest = await chainDigest(hex(need(data, "previous_digest"), 32, "previous_digest"),
                                   await contentHash(e.position, e.key, e.version, e.topic, e.state));
    var lastPosition = e.position, lastVersion = e.version;
    var later = need(data, "later");
    if (!Array.isArray(later)) { throw new SealError("the proof is malformed: 'later' is not a list"); }
    for (var i = 0; i < later.length; i++) {
      var p = whole(need(later[i], "position")), v = whole(need(later[i], "version"));
      if (v !== lastVersion + 1 || !(lastPosition < p && p <= cp.position)) {
        throw new SealError("a later event (version " + v + ", position " + p + ") is out of order",
                            { kind: "event", position: p, stream: e.key, version: v });
      }
      digest = await chainDigest(digest, hex(need(later[i], "content_hash"), 32, "content_hash"));
      lastPosition = p; lastVersion = v;
    }
    var head = need(data, "head");
    if (head === null || typeof head !== "object" || head.originator_id !== e.key ||
        head.version !== lastVersion) {
      throw new SealError("the head is not the event's stream at its last version", where);
    }
    if (!equal(hex(need(head, "digest"), 32, "head digest"), digest)) {
      throw new SealError("stream " + e.key + ": the chain from version " + e.version +
                          " does not reach the sealed head (the event or a later one was altered)",
                          where);
    }
    var root = await rootFromPath(await leafHash(e.key, lastVersion, digest), need(data, "merkle_path"));
    if (!equal(root, cp.heads_root)) {
      throw new SealError("the stream's head is not among the heads the checkpoint signs", where);
    }
    return { kind: "proof", checkpoint: cp, event: e };
  }

  // -- a bundle (verify_bundle) ----------------------------------------------------------------
  async function uuid5(name) {
    var ns = hex(NAMESPACE, 16, "namespace");
    var h = new Uint8Array(await subtle.digest("SHA-1", concat([ns, ascii(name)]))).slice(0, 16);
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    return toHex(h);
  }
  async function namedStreams(code, topic, state) {
    var kind = topic.split(".").pop();
    if (["UnitsAdded", "PostingRecorded", "CommitteeRecorded", "ServiceContractRecorded"]
        .indexOf(kind) < 0) { return {}; }
    var out = {};
    try {
      var data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(state));
      if (kind === "UnitsAdded") {
        for (var i = 0; i < data.units.length; i++) {
          var u = data.units[i];
          out[await uuid5("unit:" + code + "/" + u[1] + "/" + u[2])] = "unit " + u[0];
        }
      } else if (kind === "PostingRecorded") {
        out[await uuid5("posting:" + data.reference)] = "posting " + data.reference;
      } else if (kind === "CommitteeRecorded") {
        out[await uuid5("committee:" + code + "/" + data.committee_reference)] =
          "committee " + data.committee_reference;
      } else {
        out[await uuid5("contract:" + code + "/" + data.contract_reference)] =
          "contract " + data.contract_reference;
      }
    } catch (e) {
      if (e instanceof SealError) { throw e; }
      throw new SealError("the community's " + kind + " event is not what it should be");
    }
    return out;
  }
  function keysAre(obj, allowed, exact) {
    var keys = Object.keys(obj);
    if (keys.some(function (k) { return allowed.indexOf(k) < 0; })) { return false; }
    return !exact || allowed.every(function (k) { return has(obj, k); });
  }

  async function verifyBundle(text, trusted) {
    var lines = text.split("\n");
    if (lines.length && lines[lines.length - 1] === "") { lines.pop(); }
    var records;
    try { records = lines.map(function (l) { return JSON.parse(l); }); } catch (e) {
      throw new SealError("the bundle is not JSON lines: " + e.message);
    }
    if (records.length < 2 || !records.every(function (r) { return r !== null && typeof r === "object" && !Array.isArray(r); })) {
      throw new SealError("the bundle has no header and checkpoint");
    }
    var header = records[0], last = records[records.length - 1];
    if (header.kind !== "bundle" || header.format !== BUNDLE_FORMAT) {
      throw new SealError("not a " + BUNDLE_FORMAT + " bundle");
    }
    if (last.kind !== "checkpoint") {
      throw new SealError("the bundle does not end with its checkpoint", { kind: "checkpoint" });
    }
    var cpJson = {};
    Object.keys(last).forEach(function (k) { if (k !== "kind") { cpJson[k] = last[k]; } });
    var cp = readCheckpoint(cpJson);
    await verifyCheckpoint(cp, trusted);
    if (!keysAre(header, ["kind", "format", "community", "streams", "events", "position"], true)) {
      throw new SealError("the bundle's header has unknown or missing fields");
    }
    var community = header.community;
    if (typeof community !== "string" || whole(header.position) !== cp.position) {
      throw new SealError("the header's community or position does not match the checkpoint");
    }
    var chains = {}, own = await uuid5("community:" + community), named = {};
    var lastPosition = null, events = 0, headsSeen = 0;
    for (var i = 1; i < records.length - 1; i++) {
      var r = records[i];
      if (r.kind === "event") {
        if (!keysAre(r, ["kind", "position", "originator_id", "version", "topic", "state",
                         "state_b64", "digest"], false)) {
          throw new SealError("an event line has unknown fields");
        }
        var e = eventFields(r), where = eventWhere(e);
        if (lastPosition !== null && e.position <= lastPosition) {
          throw new SealError("events are not in log order at position " + e.position, where);
        }
        if (e.position > cp.position) {
          throw new SealError("event at position " + e.position + " is after the checkpoint", where);
        }
        var before = chains[e.key] || { version: 0, digest: new Uint8Array(32) };
        if (e.version !== before.version + 1) {
          throw new SealError("stream " + e.key + ": version " + e.version + " at position " +
                              e.position + " follows version " + before.version, where);
        }
        var digest = await chainDigest(before.digest,
                                       await contentHash(e.position, e.key, e.version, e.topic, e.state));
        if (!equal(hex(need(r, "digest"), 32, "an event's digest"), digest)) {
          throw new SealError("stream " + e.key + " version " + e.version + " at position " +
                              e.position + ": its content does not match its digest", where);
        }
        chains[e.key] = { version: e.version, digest: digest };
        if (e.key === own) { Object.assign(named, await namedStreams(community, e.topic, e.state)); }
        lastPosition = e.position;
        events += 1;
      } else if (r.kind === "head") {
        if (!keysAre(r, ["kind", "originator_id", "version", "digest", "merkle_path"], true)) {
          throw new SealError("a head line has unknown or missing fields");
        }
        var chain = chains[r.originator_id];
        var headWhere = { kind: "stream", stream: r.originator_id };
        if (!chain || !has(chains, r.originator_id)) {
          throw new SealError("a head for stream " + JSON.stringify(r.originator_id) +
                              ", which has no events here", headWhere);
        }
        if (whole(r.version) !== chain.version || !equal(hex(r.digest, 32, "a head digest"), chain.digest)) {
          throw new SealError("stream " + r.originator_id + ": the bundle's events end at version " +
                              chain.version + ", not at the sealed head", headWhere);
        }
        var leaf = await leafHash(r.originator_id, chain.version, chain.digest);
        if (!equal(await rootFromPath(leaf, r.merkle_path), cp.heads_root)) {
          throw new SealError("stream " + r.originator_id + ": its head is not among the " +
                              "checkpoint's heads", headWhere);
        }
        headsSeen += 1;
      } else {
        throw new SealError("a line of unknown kind " + JSON.stringify(r.kind));
      }
    }
    var streams = Object.keys(chains).length;
    if (headsSeen !== streams) { throw new SealError("a stream in the bundle has no head line"); }
    if (whole(header.streams) !== streams || whole(header.events) !== events) {
      throw new SealError("the header's counts do not match the bundle's lines");
    }
    if (!has(chains, own)) {
      throw new SealError("the bundle lacks community " + JSON.stringify(community) + "'s own stream");
    }
    var missing = Object.keys(named).filter(function (k) { return !has(chains, k); })
      .map(function (k) { return named[k]; }).sort();
    if (missing.length) {
      throw new SealError("the bundle lacks streams the community's own events name: " +
                          missing.slice(0, 5).join(", ") + (missing.length > 5 ? " ..." : ""));
    }
    return { kind: "bundle", checkpoint: cp, community: community, streams: streams, events: events };
  }

  async function fingerprint(keyBytes) {
    // SHA-256 of the raw 32-byte key, its first 16 bytes in groups of four hex digits.
    var d = toHex(await sha256(keyBytes)).slice(0, 32);
    return d.match(/.{4}/g).join(" ");
  }

  // -- the page ----------------------------------------------------------------------------------
  function words() { return JSON.parse(document.getElementById("verify-words").textContent); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return has(values, k) ? values[k] : ""; });
  }

  async function check(input, trustedHex) {
    var text = input.trim();
    var trusted = trustedHex.trim() ? hex(trustedHex.trim(), 32, "the public key") : null;
    var first;
    try { first = JSON.parse(text); } catch (e) { first = null; }
    if (first && first.format === PROOF_FORMAT) { return verifyProof(first, trusted); }
    return verifyBundle(input, trusted);
  }

  function show(ok, lines, where) {
    var out = document.getElementById("verify-result");
    out.className = "card verdict " + (ok ? "good" : "failed");
    out.replaceChildren();
    lines.forEach(function (line, i) {
      var el = document.createElement(i === 0 ? "h2" : "p");
      el.textContent = line;
      out.appendChild(el);
    });
    out.dataset.where = where ? JSON.stringify(where) : "";
    out.hidden = false;
    out.focus();
  }

  async function run(event) {
    event.preventDefault();
    var w = words();
    var input = document.getElementById("verify-input").value;
    var trustedHex = document.getElementById("verify-key").value;
    try {
      if (!subtle) { throw new SealError(w.no_crypto); }
      var r = await check(input, trustedHex);
      var cp = r.checkpoint;
      var lines = [w.good, fill(w.checkpoint, { position: cp.position, created: cp.created,
                                                 fingerprint: await fingerprint(cp.public_key) })];
      if (r.kind === "proof") {
        lines.push(fill(w.event, { position: r.event.position, topic: r.event.topic,
                                   version: r.event.version, stream: r.event.key }));
      } else {
        lines.push(fill(w.bundle, { community: r.community, streams: r.streams, events: r.events }));
      }
      if (!trustedHex.trim()) { lines.push(w.unpinned); }
      show(true, lines, null);
    } catch (e) {
      if (!(e instanceof SealError)) { e = new SealError(String(e && e.message || e)); }
      var lines2 = [w.failed];
      var where = e.where;
      if (where && where.kind === "checkpoint") {
        lines2.push(fill(w.at_checkpoint, { position: where.position === undefined ? "?" : where.position }));
      } else if (where && where.kind === "event") {
        lines2.push(fill(w.at_event, { position: where.position, topic: where.topic || "",
                                       version: where.version, stream: where.stream }));
      } else if (where && where.kind === "stream") {
        lines2.push(fill(w.at_stream, { stream: where.stream }));
      }
      lines2.push(e.message);
      show(false, lines2, where);
    }
  }

  function readFile() {
    var file = this.files && this.files[0];
    if (!file) { return; }
    file.text().then(function (text) { document.getElementById("verify-input").value = text; });
  }

  async function showKeyFingerprint() {
    var el = document.getElementById("key-fingerprint");
    var key = document.getElementById("verify-key");
    if (!el || !key || !subtle) { return; }
    try {
      el.textContent = await fingerprint(hex(key.value.trim(), 32, "the public key"));
    } catch (e) { el.textContent = "—"; }
  }

  function start() {
    var form = document.getElementById("verify-form");
    if (!form) { return; }
    form.addEventListener("submit", run);
    document.getElementById("verify-file").addEventListener("change", readFile);
    document.getElementById("verify-key").addEventListener("input", showKeyFingerprint);
    showKeyFingerprint();
  }
  window.fundledgerVerify = { verifyProof: verifyProof, verifyBundle: verifyBundle,
                              fingerprint: fingerprint, SealError: SealError };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else { start(); }
}());
