# Independent recomputation (Python hmac/hashlib + pyca/cryptography) of values
# used as expected results in iked-crypto's tests.
import hmac, hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
def prf(k, d): return hmac.new(k, d, hashlib.sha256).digest()
def prfplus(k, s, n):
    out=b''; t=b''; i=1
    while len(out)<n:
        t=prf(k, t+s+bytes([i])); out+=t; i+=1
    return out[:n]
ni=bytes(range(0x10,0x30)); nr=bytes(range(0x40,0x60)); gir=bytes(range(0x80,0xa0))
spii=bytes.fromhex("0102030405060708"); spir=bytes.fromhex("1112131415161718")
skeyseed=prf(ni+nr, gir); print("skeyseed", skeyseed.hex())
km=prfplus(skeyseed, ni+nr+spii+spir, 32*3+32*2+16*2)
names=["sk_d","sk_ai","sk_ar","sk_ei","sk_er","sk_pi","sk_pr"]; lens=[32,32,32,16,16,32,32]
off=0; keys={}
for n,l in zip(names,lens): keys[n]=km[off:off+l]; print(n, keys[n].hex()); off+=l
child=prfplus(keys["sk_d"], ni+nr, 2*(16+32)); print("child", child.hex())
# PSK AUTH: initiator, RealMessage1 = b"IKE_SA_INIT request bytes", responder nonce nr, ID_FQDN "bfl.example"
idbody=bytes([2,0,0,0])+b"bfl.example"
octets=b"IKE_SA_INIT request bytes"+nr+prf(keys["sk_pi"], idbody)
auth=prf(prf(b"correct horse battery staple", b"Key Pad for IKEv2"), octets); print("psk_auth", auth.hex())
# SK payload, CBC: aad = 28-byte header+SK generic header stand-in, iv = 0xa0..0xaf
aad=bytes(range(0xc0,0xdc)); pt=bytes(range(37)); iv=bytes(range(0xa0,0xb0))
padded=pt+bytes(10)+bytes([10])
enc=Cipher(algorithms.AES(keys["sk_ei"]), modes.CBC(iv)).encryptor()
ct=enc.update(padded)+enc.finalize()
icv=hmac.new(keys["sk_ai"], aad+iv+ct, hashlib.sha256).digest()[:16]
print("sk_cbc", (iv+ct+icv).hex())
# GCM-16 with 128-bit key: SK_ei = key(16) | salt(4) = 20 bytes of 0x30..0x43
ske=bytes(range(0x30,0x44)); ivg=bytes(range(0xa0,0xa8))
ctg=AESGCM(ske[:16]).encrypt(ske[16:]+ivg, pt+b"\x00", aad)
print("sk_gcm", (ivg+ctg).hex())
skc=bytes(range(0x30,0x54)); 
ctc=ChaCha20Poly1305(skc[:32]).encrypt(skc[32:]+ivg, pt+b"\x00", aad)
print("sk_chacha", (ivg+ctc).hex())
