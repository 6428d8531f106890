# Independent MODP check: Python's built-in pow() over the RFC 3526 primes
# Run from this directory: python3 modp_check.py
# (as printed by OpenSSL 3.0's named groups modp_2048/3072/4096).
import hashlib
for g in ["modp_2048","modp_3072","modp_4096"]:
    p=int(open(f"{g}.hex").read(),16); n=p.bit_length()//8
    a=int.from_bytes(bytes(range(1,65)),'big'); b=int.from_bytes(bytes(range(0x41,0x81)),'big')
    ya=pow(2,a,p); yb=pow(2,b,p); s=pow(yb,a,p)
    print(g, hashlib.sha256(ya.to_bytes(n,'big')).hexdigest(), hashlib.sha256(s.to_bytes(n,'big')).hexdigest())
