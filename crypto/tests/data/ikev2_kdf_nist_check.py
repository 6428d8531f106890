#!/usr/bin/env python3
"""Transcription check for ikev2_kdf_nist.txt (run: python3 ikev2_kdf_nist_check.py).

Re-derives every output of every record with Python's hmac/hashlib from the
record's own inputs, following RFC 7296 2.13/2.14/2.17/2.18. A mismatch means a
digit was mistyped when the vectors were copied from their sources; it says
nothing about iked (crypto/tests/kdf_nist.rs tests iked against the file).
"""
import hashlib
import hmac
import pathlib
import sys

HASHES = {"HMAC-SHA2-256": "sha256", "HMAC-SHA2-384": "sha384", "HMAC-SHA2-512": "sha512"}
TEXT_FIELDS = {"source", "case", "note", "PRF"}


def records(path):
    parsed = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            parsed.append({"title": line.strip("[]")})
            continue
        key, value = line.split(" = ", 1)
        parsed[-1][key] = value if key in TEXT_FIELDS else bytes.fromhex(value)
    return parsed


def prf_plus(hash_name, key, seed, length):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(key, block + seed + bytes([counter]), hash_name).digest()
        out += block
        counter += 1
    return out[:length]


def main():
    failures = 0
    for rec in records(pathlib.Path(__file__).with_name("ikev2_kdf_nist.txt")):
        h = HASHES[rec["PRF"]]
        ni, nr = rec["Ni"], rec["Nr"]
        skeyseed = hmac.new(ni + nr, rec["g^ir"], h).digest()
        dkm = prf_plus(h, skeyseed, ni + nr + rec["SPIi"] + rec["SPIr"], len(rec["DKM"]))
        sk_d = dkm[: hashlib.new(h).digest_size]
        derived = {
            "SKEYSEED": skeyseed,
            "DKM": dkm,
            "SKEYSEED(Rekey)": hmac.new(sk_d, rec["g^ir (new)"] + ni + nr, h).digest(),
        }
        if "DKM(Child SA)" in rec:
            derived["DKM(Child SA)"] = prf_plus(h, sk_d, ni + nr, len(rec["DKM(Child SA)"]))
        if "DKM(Child SA D-H)" in rec:
            derived["DKM(Child SA D-H)"] = prf_plus(
                h, sk_d, rec["g^ir (new)"] + ni + nr, len(rec["DKM(Child SA D-H)"])
            )
        for name, value in derived.items():
            ok = value == rec[name]
            failures += not ok
            print(f"{rec['title']}: {name} ({len(value)} bytes) {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
