#!/usr/bin/env python3
"""Decrypt the SK/SKF bodies of the captured messages with the logged keys (AES-CBC-128 + HMAC-SHA2-256-128),
verify the ICV, and write the inner payload chain (padding and pad-length byte removed) beside each message."""
import os, sys, struct, glob, hmac, hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

root = sys.argv[1]
for scen in sorted(os.listdir(root)):
    d = os.path.join(root, scen)
    if not os.path.isdir(d): continue
    keys = {}
    for l in open(os.path.join(d, 'ikev2_decryption_table')):
        f = l.strip().split(',')
        keys[(f[0], f[1])] = dict(ei=bytes.fromhex(f[2]), er=bytes.fromhex(f[3]), ai=bytes.fromhex(f[5]), ar=bytes.fromhex(f[6]))
    for fn in sorted(glob.glob(os.path.join(d, '*.bin'))):
        if fn.endswith('.inner.bin'): continue
        m = open(fn, 'rb').read()
        ispi, rspi, np, ver, ex, flags, mid, length = struct.unpack('>8s8sBBBBII', m[:28])
        if np not in (46, 53): continue
        k = keys[(ispi.hex(), rspi.hex())]
        from_initiator = bool(flags & 0x08)
        ek, ak = (k['ei'], k['ai']) if from_initiator else (k['er'], k['ar'])
        first_inner, _, plen = struct.unpack('>BBH', m[28:32])
        body_start = 32 + (4 if np == 53 else 0)
        body = m[body_start:28 + plen]
        icv = body[-16:]
        calc = hmac.new(ak, m[:-16], hashlib.sha256).digest()[:16]
        assert calc == icv, fn
        iv, ct = body[:16], body[16:-16]
        pt = Cipher(algorithms.AES(ek), modes.CBC(iv)).decryptor().update(ct)
        padlen = pt[-1]
        inner = pt[:len(pt) - 1 - padlen]
        out = fn[:-4] + '.inner.bin'
        open(out, 'wb').write(inner)
        print(os.path.relpath(out, root), 'first inner payload', first_inner, len(inner), 'bytes')
