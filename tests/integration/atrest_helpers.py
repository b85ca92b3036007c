"""Reading what MSS keeps sealed at rest (issue 12), for assertions only: the master
key unwraps the account key (crypto_secretbox); the account's X25519 secret key is
derived from it (subkey "mss_xkey" as the seed) and opens each message's key, sealed
to the account in blobs.sealed_key (crypto_box_seal; NULL for a message stored before
key pairs: the account key itself); the message key's subkey "mss_meta" opens its
metadata record (XChaCha20-Poly1305, store/store_meta.c) and the key itself its blob
(secretstream, lib/crypto.c). libsodium itself, through ctypes: the same library the
server uses, no second implementation."""
import ctypes
import ctypes.util
import struct

_na = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert _na.sodium_init() >= 0

NONCE = 24
TAG = 16
META_AD = b"mss.message.meta.1"


# What takes a SQLite store from this code's schema back to store step 11, newest step
# first: the tests that make an older MSS's store (test_at_rest, test_store_migrate,
# test_key_agent) run it before undoing their own steps. A new store step adds its
# undoing here, or those tests fail at the step's re-run ("duplicate column name").
UNDO_STORE_STEPS_AFTER_11 = [
    *["DROP TRIGGER messages_counts_" + t for t in ("insert", "delete", "update")],  # 12 (13: PostgreSQL)
    *["ALTER TABLE mailboxes DROP COLUMN " + c
      for c in ("n_messages", "n_unseen", "n_deleted", "total_size", "deleted_size")],
    "DROP INDEX messages_keywords",  # 15
    "ALTER TABLE blobs DROP COLUMN data",  # 16 (blobs_to_files first, or their bytes go)
    "DROP TABLE view_snapshots",  # 17
    "DROP INDEX messages_unseen",  # 18
    "DROP TABLE committer_batches",  # 19
]


def blobs_to_files(m):
    """Every blob kept in its row (store step 16) moved to its file, as a store before
    that step held it: the bytes are the same format."""
    for name, data in m.sql("SELECT name, data FROM blobs WHERE data IS NOT NULL"):
        path = m.data_dir / "blobs" / name[:2] / name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_bytes(bytes(data))
        m.sql("UPDATE blobs SET data = NULL WHERE name = ?", name)


def master_key(m):
    path = m.settings.get("master_key_file") or str(m.data_dir / "keys" / "master.key")
    with open(path, "rb") as f:
        return f.read()


def account_key(m, user_id):
    """The account key: "v2." + hex of nonce | key | tag, XChaCha20-Poly1305 IETF under
    the master key with the lowercased address as associated data (lib/crypto.c); the
    first format (secretbox, 144 hex digits) as an older MSS wrote it."""
    text, address = m.sql("SELECT wrapped_key, address FROM store_users WHERE id = ?", user_id)[0]
    out = ctypes.create_string_buffer(32)
    if not text.startswith("v2."):
        wrapped = bytes.fromhex(text)
        c = wrapped[NONCE:]
        rc = _na.crypto_secretbox_open_easy(out, c, ctypes.c_ulonglong(len(c)), wrapped[:NONCE],
                                            master_key(m))
        assert rc == 0, "account key does not unwrap"
        return out.raw
    wrapped = bytes.fromhex(text[3:])
    c, ad = wrapped[NONCE:], address.lower().encode()
    outlen = ctypes.c_ulonglong(0)
    rc = _na.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, ctypes.byref(outlen), None, c, ctypes.c_ulonglong(len(c)), ad,
        ctypes.c_ulonglong(len(ad)), wrapped[:NONCE], master_key(m))
    assert rc == 0 and outlen.value == 32, "account key does not unwrap"
    return out.raw


def wrap_first_format(m, key):
    """An account key wrapped as MSS did before store migration 10: hex of nonce | secretbox
    of the key under the master key, bound to no account."""
    nonce = ctypes.create_string_buffer(NONCE)
    _na.randombytes_buf(nonce, ctypes.c_size_t(NONCE))
    out = ctypes.create_string_buffer(32 + TAG)
    assert _na.crypto_secretbox_easy(out, key, ctypes.c_ulonglong(32), nonce.raw, master_key(m)) == 0
    return (nonce.raw + out.raw).hex()


def keypair(account):
    """The account's X25519 pair (lib/crypto_seal.c)."""
    seed = ctypes.create_string_buffer(32)
    assert _na.crypto_kdf_derive_from_key(seed, ctypes.c_size_t(32), ctypes.c_uint64(1), b"mss_xkey",
                                          account) == 0
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    assert _na.crypto_box_seed_keypair(pk, sk, seed.raw) == 0
    return pk.raw, sk.raw


def message_key(account, sealed):
    """The key a message's blob and metadata are under."""
    if sealed is None:
        return account
    pk, sk = keypair(account)
    sealed = bytes(sealed)
    out = ctypes.create_string_buffer(32)
    assert _na.crypto_box_seal_open(out, sealed, ctypes.c_ulonglong(len(sealed)), pk, sk) == 0, \
        "message key does not open"
    return out.raw


SS_STATE = _na.crypto_secretstream_xchacha20poly1305_statebytes()
SS_HEADER = 24
SS_ABYTES = 17
BLOB_MAGIC = b"MSSB1"
BLOB_CHUNK = 65536


def blob_bytes(m, name, data):
    """A blob's encrypted bytes: data when it is kept in its row (blobs.data), else its
    file's."""
    if data is not None:
        return bytes(data)
    return open(m.data_dir / "blobs" / name[:2] / name, "rb").read()


def blob_read(path, key):
    """The plaintext of a blob file (lib/crypto.c's format)."""
    return blob_open(open(path, "rb").read(), key)


def blob_open(data, key):
    """The plaintext of a blob's encrypted bytes (a file's or a row's: the same format)."""
    assert data.startswith(BLOB_MAGIC)
    st = ctypes.create_string_buffer(SS_STATE)
    pos = len(BLOB_MAGIC)
    assert _na.crypto_secretstream_xchacha20poly1305_init_pull(st, data[pos:pos + SS_HEADER], key) == 0
    pos += SS_HEADER
    out, final = b"", False
    while not final:
        c = data[pos:pos + BLOB_CHUNK + SS_ABYTES]
        pos += len(c)
        m = ctypes.create_string_buffer(max(len(c), 1))
        mlen, tag = ctypes.c_ulonglong(0), ctypes.c_ubyte(0)
        assert _na.crypto_secretstream_xchacha20poly1305_pull(
            st, m, ctypes.byref(mlen), ctypes.byref(tag), c, ctypes.c_ulonglong(len(c)), None,
            ctypes.c_ulonglong(0)) == 0, "blob does not open"
        out += m.raw[:mlen.value]
        final = tag.value == 3  # TAG_FINAL
    return out


def blob_write(path, key, plain):
    """Writes plain as a blob file under key (as lib/crypto.c does)."""
    with open(path, "wb") as f:
        f.write(blob_seal(key, plain))


def blob_seal(key, plain):
    """plain encrypted under key in lib/crypto.c's blob format."""
    st = ctypes.create_string_buffer(SS_STATE)
    header = ctypes.create_string_buffer(SS_HEADER)
    assert _na.crypto_secretstream_xchacha20poly1305_init_push(st, header, key) == 0
    out = BLOB_MAGIC + header.raw
    chunks = [plain[i:i + BLOB_CHUNK] for i in range(0, len(plain), BLOB_CHUNK)] or [b""]
    if len(chunks[-1]) == BLOB_CHUNK:
        chunks.append(b"")
    for i, p in enumerate(chunks):
        c = ctypes.create_string_buffer(len(p) + SS_ABYTES)
        clen = ctypes.c_ulonglong(0)
        tag = 3 if i == len(chunks) - 1 else 0
        assert _na.crypto_secretstream_xchacha20poly1305_push(
            st, c, ctypes.byref(clen), p, ctypes.c_ulonglong(len(p)), None, ctypes.c_ulonglong(0),
            ctypes.c_ubyte(tag)) == 0
        out += c.raw[:clen.value]
    return out


def meta_open(key, record):
    """The four fields of a sealed record: envelope, bodystructure, body, refs."""
    sub = ctypes.create_string_buffer(32)
    assert _na.crypto_kdf_derive_from_key(sub, ctypes.c_size_t(32), ctypes.c_uint64(1), b"mss_meta",
                                          key) == 0
    record = bytes(record)
    plain = ctypes.create_string_buffer(len(record))
    plen = ctypes.c_ulonglong(0)
    c = record[NONCE:]
    rc = _na.crypto_aead_xchacha20poly1305_ietf_decrypt(
        plain, ctypes.byref(plen), None, c, ctypes.c_ulonglong(len(c)), META_AD,
        ctypes.c_ulonglong(len(META_AD)), record[:NONCE], sub.raw)
    assert rc == 0, "metadata record does not open"
    p = plain.raw[:plen.value]
    assert p[0] == 1
    pos, fields = 1, []
    for _ in range(4):
        (n,) = struct.unpack(">I", p[pos:pos + 4])
        pos += 4
        if n == 0xFFFFFFFF:
            fields.append(None)
            continue
        fields.append(p[pos:pos + n].decode("utf-8", "replace"))
        pos += n
    assert pos == len(p)
    return fields


def meta_seal(key, fields):
    """The sealed record of four fields (meta_open's inverse), under key's "mss_meta"."""
    sub = ctypes.create_string_buffer(32)
    assert _na.crypto_kdf_derive_from_key(sub, ctypes.c_size_t(32), ctypes.c_uint64(1), b"mss_meta",
                                          key) == 0
    p = b"\x01"
    for f in fields:
        if f is None:
            p += struct.pack(">I", 0xFFFFFFFF)
            continue
        b = f.encode("utf-8")
        p += struct.pack(">I", len(b)) + b
    nonce = ctypes.create_string_buffer(NONCE)
    _na.randombytes_buf(nonce, ctypes.c_size_t(NONCE))
    c = ctypes.create_string_buffer(len(p) + TAG)
    clen = ctypes.c_ulonglong(0)
    assert _na.crypto_aead_xchacha20poly1305_ietf_encrypt(
        c, ctypes.byref(clen), p, ctypes.c_ulonglong(len(p)), META_AD, ctypes.c_ulonglong(len(META_AD)),
        None, nonce.raw, sub.raw) == 0
    return nonce.raw + c.raw[:clen.value]


def stored_envelopes(m, address, mailbox=None):
    """The cached ENVELOPE of every message of address (in mailbox when given), opened."""
    q = ("SELECT b.user_id, m.meta, bl.sealed_key FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id"
         " JOIN store_users u ON b.user_id = u.id JOIN blobs bl ON bl.id = m.blob_id WHERE u.address = ?")
    args = [address]
    if mailbox is not None:
        q += " AND b.name = ?"
        args.append(mailbox)
    out, keys = [], {}
    for user_id, meta, sealed in m.sql(q + " ORDER BY m.id", *args):
        if user_id not in keys:
            keys[user_id] = account_key(m, user_id)
        out.append(meta_open(message_key(keys[user_id], sealed), meta)[0])
    return out
