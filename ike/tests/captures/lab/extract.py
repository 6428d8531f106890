#!/usr/bin/env python3
"""Extract IKE messages from the lab pcaps into ike/tests/captures/<scenario>/."""
import os, re, struct, sys, shutil

SCEN = {'A': 'seed-child', 'B': 'childless', 'F': 'fragmented', 'L': 'libipsec-tunnel', 'K': 'invalid-ke'}
EXCH = {34: 'IKE_SA_INIT', 35: 'IKE_AUTH', 36: 'CREATE_CHILD_SA', 37: 'INFORMATIONAL'}
OUT = sys.argv[1]

def packets(path):
    data = open(path, 'rb').read()
    magic = struct.unpack('<I', data[:4])[0]
    assert magic == 0xa1b2c3d4, hex(magic)
    linktype = struct.unpack('<I', data[20:24])[0]
    assert linktype == 1
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack('<IIII', data[off:off+16]); off += 16
        frame = data[off:off+incl]; off += incl
        if struct.unpack('>H', frame[12:14])[0] != 0x0800:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            continue
        src = '.'.join(map(str, ip[12:16])); dst = '.'.join(map(str, ip[16:20]))
        udp = ip[ihl:]
        sport, dport, ulen = struct.unpack('>HHH', udp[:6])
        yield src, sport, dst, dport, udp[8:ulen]

def keysets(log):
    lines = open(log).read().splitlines()
    sets, cur, name = [], {}, None
    for l in lines:
        m = re.search(r'\[IKE\] (Sk_\w+ secret|SKEYSEED|shared Diffie Hellman secret) => (\d+) bytes', l)
        if m:
            name = {'SKEYSEED': 'SKEYSEED', 'shared Diffie Hellman secret': 'g^ir'}.get(m.group(1), m.group(1).split()[0])
            cur[name] = ''; continue
        m = re.search(r'\[IKE\]\s+\d+: ((?:[0-9A-F]{2} )+)', l)
        if m and name:
            cur[name] += m.group(1).replace(' ', '').lower(); continue
        name = None
        if len(cur) == 9 and 'Sk_pr' in cur and len(cur['Sk_pr']) == 64:
            sets.append(cur); cur = {}
    return sets

for s, name in SCEN.items():
    src_dir = f'/tmp/wire/lab/out-{s}'
    if not os.path.isdir(src_dir):
        continue
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    idx = 0
    spis = []
    rows = []
    for sa, sp, da, dp, payload in packets(f'{src_dir}/ike.pcap'):
        marker = ''
        if sp == 4500 or dp == 4500:
            assert payload[:4] == b'\0\0\0\0', 'expected non-ESP marker'
            payload = payload[4:]; marker = ' (non-ESP marker stripped)'
        ispi, rspi, np, ver, ex, flags, mid, length = struct.unpack('>8s8sBBBBII', payload[:28])
        assert length == len(payload)
        idx += 1
        kind = 'response' if flags & 0x20 else 'request'
        fn = f'{idx:02d}-{EXCH.get(ex, str(ex))}-{kind}-{mid}.bin'
        if np == 53:
            frag_num, frag_total = struct.unpack('>HH', payload[32:36])
            fn = fn.replace('.bin', f'-frag{frag_num}of{frag_total}.bin')
        open(os.path.join(d, fn), 'wb').write(payload)
        if ex == 34 and kind == 'response' and rspi != bytes(8):
            spis.append((ispi.hex(), rspi.hex()))
        rows.append(f'{fn}: {sa}[{sp}] -> {da}[{dp}], {len(payload)} bytes{marker}')
    # a rekeyed IKE SA's SPIs travel encrypted; charon's --list-sas shows the surviving SA's SPIs
    ls = open(f'{src_dir}/list-sas.out').read()
    m = re.search(r'#2, ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r', ls)
    if m:
        spis.append((m.group(1), m.group(2)))
    ks = keysets(f'{src_dir}/charon-left.log')
    assert len(ks) == len(spis), (s, len(ks), spis)
    with open(os.path.join(d, 'ikev2_decryption_table'), 'w') as f:
        for (i, r), k in zip(spis, ks):
            f.write(f'{i},{r},{k["Sk_ei"]},{k["Sk_er"]},"AES-CBC-128 [RFC3602]",{k["Sk_ai"]},{k["Sk_ar"]},"HMAC_SHA2_256_128 [RFC4868]"\n')
    with open(os.path.join(d, 'ike-keys.txt'), 'w') as f:
        f.write('# IKE SA secrets logged by the initiator (charon ike loglevel 4), in the order derived.\n# g^ir is the X25519 shared secret; for the rekeyed SA (CREATE_CHILD_SA) SKEYSEED = prf(SK_d(old), g^ir (new) | Ni | Nr).\n')
        for (i, r), k in zip(spis, ks):
            f.write(f'SPIi={i} SPIr={r}\n')
            for n in ['g^ir', 'SKEYSEED', 'Sk_d', 'Sk_ai', 'Sk_ar', 'Sk_ei', 'Sk_er', 'Sk_pi', 'Sk_pr']:
                f.write(f'  {n} = {k[n]}\n')
    # charon's own summary lines (initiator and responder) for each message it generated or parsed
    with open(os.path.join(d, 'charon-summary.txt'), 'w') as f:
        for side in ['left', 'right']:
            f.write(f'# {side} ({"initiator 192.168.50.1" if side == "left" else "responder 192.168.50.2"})\n')
            for l in open(f'{src_dir}/charon-{side}.log'):
                if (re.search(r'\[ENC\] (generating|parsed) \S+ (request|response) \d+ \[', l)
                        or re.search(r'\[NET\] (sending|received) packet: .*\(\d+ bytes\)$', l)
                        or re.search(r'\[ENC\] splitting', l)):
                    f.write(l.split('] ', 1)[1] if '] ' in l else l)
    shutil.copy(f'{src_dir}/ike.pcap', os.path.join(d, 'ike.pcap'))
    open(os.path.join(d, 'messages.txt'), 'w').write('\n'.join(rows) + '\n')
    print(name, len(rows), 'messages', len(ks), 'key sets')
