"""Reading what MSS keeps sealed at rest (issue 12), for assertions only: the master
key unwraps the account key (crypto_secretbox), whose subkey "mss_meta" opens a
message's metadata record (XChaCha20-Poly1305, store/store_meta.c). libsodium itself,
through ctypes: the same library the server uses, no second implementation."""
import ctypes
import ctypes.util
import struct

_na = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert _na.sodium_init() >= 0

NONCE = 24
TAG = 16
META_AD = b"mss.message.meta.1"


def master_key(m):
    path = m.settings.get("master_key_file") or str(m.data_dir / "keys" / "master.key")
    with open(path, "rb") as f:
        return f.read()


def account_key(m, user_id):
    wrapped = bytes.fromhex(m.sql("SELECT wrapped_key FROM store_users WHERE id = ?", user_id)[0][0])
    out = ctypes.create_string_buffer(32)
    c = wrapped[NONCE:]
    rc = _na.crypto_secretbox_open_easy(out, c, ctypes.c_ulonglong(len(c)), wrapped[:NONCE],
                                        master_key(m))
    assert rc == 0, "account key does not unwrap"
    return out.raw


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


def stored_envelopes(m, address, mailbox=None):
    """The cached ENVELOPE of every message of address (in mailbox when given), opened."""
    q = ("SELECT b.user_id, m.meta FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id"
         " JOIN store_users u ON b.user_id = u.id WHERE u.address = ?")
    args = [address]
    if mailbox is not None:
        q += " AND b.name = ?"
        args.append(mailbox)
    out, keys = [], {}
    for user_id, meta in m.sql(q + " ORDER BY m.id", *args):
        if user_id not in keys:
            keys[user_id] = account_key(m, user_id)
        out.append(meta_open(keys[user_id], meta)[0])
    return out
