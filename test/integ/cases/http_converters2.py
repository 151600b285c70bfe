#!/usr/bin/env python3
"""Hash, string, integer and address converters and the constant / header-count / base /
url_param / nbsrv fetches, as HAProxy 2.6 evaluates them (validated with ES_TEST_PEER=haproxy
against HAProxy 2.6.12; facts in FACTS.md next to this file). Origin `o` (http_origin) records
what it receives.
  1. fe, `http-request set-header X-O-<name> %[<expr>]` rules, each group guarded by
     `{ req.hdr(x-t) -m str <group> }`, input in X-In; next to each,
     `set-header X-F-<name> 1 if ... { <expr> -m found }` tells "no sample" (X-O present and
     empty) from an empty string:
     hash  crc32 crc32c djb2 sdbm wt6 ([avalanche]: any non-zero argument), xxh32 xxh64 xxh3
           ([seed]), hex, sha1, sha2([bits]), digest(<alg>) (binary results shown through hex);
           the expected values are computed here, in Python, from the algorithms' definitions
           (zlib, hashlib and the small functions below), xxh3 excepted (literal values,
           checked against libxxhash by crosscheck_hashes.py);
     bytes (offset past the end: empty, length past the end: to the end, negative arguments),
     trim  ltrim/rtrim (a set of characters, everything trimmed: an empty string),
     concat (constant/variable/constant, a missing variable adds nothing, int/bool/ip variables
           as text, quoted commas and parentheses),
     json  (ascii, utf8, utf8s, utf8p, utf8ps on quotes, slashes, tabs, Latin-1, overlong,
           surrogates, characters past U+FFFF),
     int   add sub mul div mod neg and or xor cpl bool not odd even with constants and
           variables: C truncating division, saturation at the 64-bit limits, div(0)/mod(0),
           the string-to-integer cast (leading digits, saturating, an empty string: no sample),
     hex2i (hex digits only, wraps past 16 digits, anything else: no sample),
     ipmask (dotted or CIDR mask, IPv6 only with a second mask, v4-mapped addresses become v4),
     cast  int(), str(), bool() constants, integer/boolean -> binary (8 bytes, big endian),
           ip -> binary (4 bytes), binary -> string (stops at the first NUL byte).
  2. group fetch: req.hdr_cnt / hdr_cnt (comma-separated values), req.hdr_ip / hdr_ip (last
     value, IPv4 with optional :port, IPv6), base, base32 (= base,sdbm(1)), base32+src,
     url_param / urlp (first parameter, custom delimiter), nbsrv / nbsrv converter (disabled
     servers, backup servers, option allbackups), srv_is_up, req.body_size.
  3. `-c`: bad arguments (sub(abc), bytes without offset, sha2(100), digest(nosuch), json(x),
     ipmask(33), bool(yes), nbsrv(nosuch), srv_is_up(be/nosuch), too many arguments).
The fetch group's rules come first and req.hdr_cnt is its first rule, so the count sees the
request as sent (no X-O/X-F header added yet). Not covered: `abs` (2.6 has no such converter),
rand/uuid (not deterministic), add_item, be2hex/be2dec. sha2 and digest need an OpenSSL build
(the Debian HAProxy has one). CONV2_DUMP=1 prints what the proxy returns, table by table, with
the cells that differ, instead of failing at the first difference.
"""
import hashlib
import os
import sys
import zlib

# test/integ/lib next to the case once it lives in test/integ/{pending,cases}/; the checkout's until then
_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib")
sys.path.insert(0, _LIB if os.path.exists(os.path.join(_LIB, "eslib.py")) else "/work/main/test/integ/lib")
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
N = None  # "no sample": the header is set to "" and `-m found` is false
DUMP = os.environ.get("CONV2_DUMP") == "1"  # print what the proxy returns instead of failing

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
IMAX = (1 << 63) - 1
IMIN = -(1 << 63)


# ----------------------------------------------------------------------------------------------
# Independent reference implementations (from the algorithms' published definitions)
# ----------------------------------------------------------------------------------------------

def avalanche(a):
    """Bob Jenkins' 32-bit integer hash (6 shifts), then a multiplication by 3221225473, mod 2^32."""
    a = ((a + 0x7ed55d16) + (a << 12)) & M32
    a = ((a ^ 0xc761c23c) ^ (a >> 19)) & M32
    a = ((a + 0x165667b1) + (a << 5)) & M32
    a = ((a + 0xd3a2646c) ^ (a << 9)) & M32
    a = ((a + 0xfd7046c5) + (a << 3)) & M32
    a = ((a ^ 0xb55a4f09) ^ (a >> 16)) & M32
    return (a * 3221225473) & M32


def djb2(b):
    h = 5381
    for c in b:
        h = (h * 33 + c) & M32
    return h


def sdbm(b):
    h = 0
    for c in b:
        h = (c + (h << 6) + (h << 16) - h) & M32
    return h


def rotl32(x, r):
    r &= 31
    return ((x << r) | (x >> (32 - r))) & M32 if r else x


def wt6(b):
    h0, h1, s0, s1 = 0xa53c965a, 0x5ca6953a, 6, 18
    for c in b:
        h0 = ~(h0 ^ c) & M32
        h1 = ~(h1 + c) & M32
        h0, h1 = rotl32(h1, s0), rotl32(h0, s1)
        t = ((h0 >> 16) ^ h1) & 0xffff
        s0, s1 = t & 0x1f, t >> 11
    return h0 ^ h1


def crc32c(b):
    crc = M32
    for c in b:
        crc ^= c
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ M32


def xxh32(b, seed=0):
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    seed &= M32
    n, i = len(b), 0
    if n >= 16:
        v = [(seed + p1 + p2) & M32, (seed + p2) & M32, seed, (seed - p1) & M32]
        while i + 16 <= n:
            for k in range(4):
                lane = int.from_bytes(b[i + 4 * k:i + 4 * k + 4], "little")
                v[k] = (rotl32((v[k] + lane * p2) & M32, 13) * p1) & M32
            i += 16
        h = (rotl32(v[0], 1) + rotl32(v[1], 7) + rotl32(v[2], 12) + rotl32(v[3], 18)) & M32
    else:
        h = (seed + p5) & M32
    h = (h + n) & M32
    while i + 4 <= n:
        h = (h + int.from_bytes(b[i:i + 4], "little") * p3) & M32
        h = (rotl32(h, 17) * p4) & M32
        i += 4
    while i < n:
        h = (h + b[i] * p5) & M32
        h = (rotl32(h, 11) * p1) & M32
        i += 1
    h ^= h >> 15
    h = (h * p2) & M32
    h ^= h >> 13
    h = (h * p3) & M32
    return h ^ (h >> 16)


def rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def xxh64(b, seed=0):
    p1, p2, p3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
    p4, p5 = 9650029242287828579, 2870177450012600261
    seed &= M64

    def rnd(acc, lane):
        return (rotl64((acc + lane * p2) & M64, 31) * p1) & M64

    n, i = len(b), 0
    if n >= 32:
        v = [(seed + p1 + p2) & M64, (seed + p2) & M64, seed, (seed - p1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], int.from_bytes(b[i + 8 * k:i + 8 * k + 8], "little"))
            i += 32
        h = (rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18)) & M64
        for k in range(4):
            h = ((h ^ rnd(0, v[k])) * p1 + p4) & M64
    else:
        h = (seed + p5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h ^= rnd(0, int.from_bytes(b[i:i + 8], "little"))
        h = (rotl64(h, 27) * p1 + p4) & M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(b[i:i + 4], "little") * p1) & M64
        h = (rotl64(h, 23) * p2 + p3) & M64
        i += 4
    while i < n:
        h ^= (b[i] * p5) & M64
        h = (rotl64(h, 11) * p1) & M64
        i += 1
    h ^= h >> 33
    h = (h * p2) & M64
    h ^= h >> 29
    h = (h * p3) & M64
    return h ^ (h >> 32)


def s64(u):
    """An unsigned 64-bit value as HAProxy's signed 64-bit integer sample."""
    u &= M64
    return u - (1 << 64) if u >> 63 else u


def hexu(b):
    return b.hex().upper()


def ctrunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def sat(v):
    return max(IMIN, min(IMAX, v))


def hash_row(s):
    """Expected values of the "hash" group for the header value s (latin-1 bytes)."""
    b = s.encode("latin-1")
    c32 = zlib.crc32(b)
    return [str(c32), str(avalanche(c32)), str(c32), str(avalanche(c32)), str(avalanche(c32)),
            str(crc32c(b)), str(avalanche(crc32c(b))),
            str(djb2(b)), str(avalanche(djb2(b))), str(sdbm(b)), str(avalanche(sdbm(b))),
            str(wt6(b)), str(avalanche(wt6(b))),
            str(xxh32(b)), str(xxh32(b, 1)), str(xxh32(b, M32)),
            str(s64(xxh64(b))), str(s64(xxh64(b, 42))), str(s64(xxh64(b, M64))),
            XXH3[s][0], XXH3[s][1],
            hexu(b), "%016X" % c32, hashlib.sha1(b).hexdigest().upper(),
            hashlib.sha256(b).hexdigest().upper(), hashlib.sha224(b).hexdigest().upper(),
            hashlib.sha384(b).hexdigest().upper(), hashlib.sha512(b).hexdigest().upper(),
            hashlib.md5(b).hexdigest().upper(), hashlib.sha256(b).hexdigest().upper(),
            hashlib.sha1(b).hexdigest().upper()]


# xxh3 (XXH3_64bits_withSeed), seed 0 and 42, as signed decimal; crosscheck_hashes.py recomputes
# them with the system's libxxhash
XXH3 = {
    "": ("3244421341483603138", "-5752995443491633966"),
    "a": ("-1817709641818812897", "5495374321939846900"),
    "abc": ("8696274497037089104", "-2863288879874843453"),
    "hello world": ("-3150353794653054837", "-7554129604622077042"),
    "The quick brown fox jumps over the lazy dog": ("-3567667132247329947", "-5430228705035387610"),
    "\xe9\xff": ("-8349153589437711562", "-6211043167175229657"),
    "x" * 300: ("-6498214460798782124", "4430363458234774674"),
}

# group -> (fetch or None, [(name, converters, or the whole expression when fetch is None)])
GROUPS = {
    "fetch": (None, [
        ("hcall", "req.hdr_cnt"), ("hc", "req.hdr_cnt(x-a)"), ("hcu", "req.hdr_cnt(X-A)"),
        ("hco", "hdr_cnt(x-a)"), ("hcn", "req.hdr_cnt(x-nope)"), ("hcadd", "req.hdr_cnt(x-a),mul(10)"),
        ("hi", "req.hdr_ip(x-ip)"), ("hio", "hdr_ip(x-ip)"), ("hi1", "req.hdr_ip(x-ip,1)"),
        ("hi2", "req.hdr_ip(x-ip,2)"), ("him", "req.hdr_ip(x-ip),ipmask(16,32)"),
        ("bs", "base"), ("b32", "base32"), ("b32sd", "base,sdbm(1)"), ("b32src", "base32+src,hex"),
        ("pa", "path"), ("up", "url_param(a)"), ("upn", "url_param"), ("ups", "url_param(a,;)"),
        ("upb", "urlp(b)"), ("upe", "url_param(e)"),
        ("ns", "nbsrv(be)"), ("ns2", "nbsrv(b2)"), ("ns3", "nbsrv(b3)"), ("ns4", "nbsrv(b4)"),
        ("ns5", "nbsrv(b5)"), ("nsc", "str(b2),nbsrv"), ("nsx", "str(nosuch),nbsrv"),
        ("su", "srv_is_up(b2/s1)"), ("sud", "srv_is_up(b2/s2)"), ("suk", "srv_is_up(b3/k1)"),
        ("bz", "req.body_size")]),
    "hash": ("req.hdr(x-in)", [
        ("c32", "crc32"), ("c32a", "crc32(1)"), ("c32z", "crc32(0)"), ("c32t", "crc32(2)"),
        ("c32m", "crc32(-1)"), ("c32c", "crc32c"), ("c32ca", "crc32c(1)"), ("djb", "djb2"),
        ("djba", "djb2(1)"), ("sdb", "sdbm"), ("sdba", "sdbm(1)"), ("wt", "wt6"), ("wta", "wt6(1)"),
        ("x32", "xxh32"), ("x32s", "xxh32(1)"), ("x32m", "xxh32(-1)"), ("x64", "xxh64"),
        ("x64s", "xxh64(42)"), ("x64m", "xxh64(-1)"), ("x3", "xxh3"), ("x3s", "xxh3(42)"),
        ("hx", "hex"), ("c32hx", "crc32,hex"), ("s1", "sha1,hex"), ("s2", "sha2,hex"),
        ("s224", "sha2(224),hex"), ("s384", "sha2(384),hex"), ("s512", "sha2(512),hex"),
        ("dmd5", "digest(md5),hex"), ("d256", "digest(sha256),hex"), ("dsha1", "digest(SHA1),hex")]),
    "bytes": ("req.hdr(x-in)", [
        ("b0", "bytes(0)"), ("b1", "bytes(1)"), ("b23", "bytes(2,3)"), ("b00", "bytes(0,0)"),
        ("b5", "bytes(5)"), ("b9", "bytes(9)"), ("b1x", "bytes(1,100)"), ("b31", "bytes(3,1)"),
        ("bm", "bytes(-1)"), ("b0m", "bytes(0,-1)"), ("b1h", "bytes(1),hex"), ("b2l", "bytes(2),length")]),
    "trim": ("req.fhdr(x-in)", [
        ("lt", "ltrim(_)"), ("rt", "rtrim(_)"), ("lt2", "ltrim(_-)"), ("rt2", "rtrim(-_)"),
        ("both", "ltrim(x),rtrim(x)"), ("lr", "ltrim(_),rtrim(_)"), ("ltc", r'ltrim(\",\")'),
        ("rtl", "rtrim(_),length")]),
    "concat": ("req.hdr(x-in)", [
        ("c1", "concat(<,txn.v,>)"), ("c2", "concat(<)"), ("c3", "concat(,txn.v)"), ("c4", "concat(,,>)"),
        ("c5", "concat(<,txn.nope,>)"), ("c6", "concat(,txn.n,)"), ("c7", r'concat(\",\",txn.v,\")\")'),
        ("c8", "concat(,txn.b,)"), ("c9", "concat(,txn.ip,)"), ("ce", "concat(<,txn.e,>)"),
        ("cb", "concat"), ("cb2", "concat()"), ("cc", "concat(-),concat(,txn.v,-)"),
        ("cl", "concat(,txn.v),length")]),
    "json": ("req.hdr(x-in)", [
        ("j", "json"), ("je", "json()"), ("ja", "json(ascii)"), ("ju", "json(utf8)"), ("jus", "json(utf8s)"),
        ("jup", "json(utf8p)"), ("jups", "json(utf8ps)")]),
    "int": ("req.hdr(x-in)", [
        ("a3", "add(3)"), ("am3", "add(-3)"), ("s3", "sub(3)"), ("sm3", "sub(-3)"), ("m3", "mul(3)"),
        ("mm1", "mul(-1)"), ("d2", "div(2)"), ("dm2", "div(-2)"), ("d0", "div(0)"), ("md3", "mod(3)"),
        ("mdm3", "mod(-3)"), ("md0", "mod(0)"), ("ng", "neg"), ("an", "and(6)"), ("o", "or(8)"),
        ("x", "xor(5)"), ("cp", "cpl"), ("bo", "bool"), ("nt", "not"), ("od", "odd"), ("ev", "even"),
        ("av", "add(txn.ten)"), ("avm", "add(txn.nope)"), ("avs", "add(txn.five)"), ("avx", "add(txn.xs)"),
        ("dv", "div(txn.zero)"), ("na", "neg,add(10)"), ("smin", "sub(-9223372036854775808)"),
        ("mmin", "mul(-9223372036854775808)"), ("dm1", "div(-1)"), ("mdm1", "mod(-1)"),
        ("plain", "add(0)"), ("bo2", "bool,add(1)")]),
    "hex2i": ("req.hdr(x-in)", [("h", "hex2i"), ("hp", "hex2i,add(1)")]),
    "ipm": ("req.hdr(x-in)", [
        ("m24", "ipmask(24)"), ("mdot", "ipmask(255.255.0.0)"), ("m32", "ipmask(32)"), ("m0", "ipmask(0)"),
        ("m6", "ipmask(24,64)"), ("m6q", "ipmask(24,ffff:ffff::)"), ("m6f", "ipmask(16,128)"),
        ("mh", "ipmask(24),hex")]),
    "cast": (None, [
        ("i", "int(42)"), ("im", "int(-5)"), ("ip", "int(+7)"), ("s", "str(hello)"), ("se", "str()"),
        ("bt", "bool(true)"), ("bf", "bool(false)"), ("b1", "bool(1)"), ("b0", "bool(0)"),
        ("ih", "int(-1),hex"), ("ih2", "int(255),hex"), ("i1c", "int(1),crc32"), ("bh", "bool(true),hex"),
        ("sc", "str(abc),crc32"), ("ic", "int(5),concat(x)"), ("it", "int(100),rtrim(0)"),
        ("ij", "int(-5),json"), ("sa", "str(12),add(1)"), ("sx", "str(x),add(1)"), ("sl", "str(),add(1)"),
        ("ba", "bool(true),add(1)"), ("ipc", "src,ipmask(8)"), ("srcx", "src,hex"), ("src32", "src,crc32"),
        ("ibin", "int(1),sha1,hex"), ("nul", "req.hdr(x-in),url_dec,bytes(0)"),
        ("nulh", "req.hdr(x-in),url_dec,hex"), ("null", "req.hdr(x-in),url_dec,length"),
        ("nulbl", "req.hdr(x-in),url_dec,bytes(0),length"), ("ilen", "int(-12345),length"),
        ("ilt", "int(-12345),ltrim(-)"), ("hlen", "req.hdr(x-in),hex,length"),
        ("binz", "bin(610062)"), ("binzh", "bin(610062),hex"), ("binzl", "bin(610062),length"),
        ("binzb", "bin(610062),bytes(1),hex"), ("binzs", "bin(00),length"),
        ("imax", "int(99999999999999999999)"), ("btc", "bool(TRUE)"), ("sbare", "str"),
        ("iip", "int(5),ipmask(24)"), ("iip2", "int(16909060),ipmask(16)"), ("hip", "str(a),crc32,ipmask(8)"),
        ("srcl", "src,ltrim(1),ipmask(24)"), ("nonc", "str(1.2.3.4),ipmask(255.0.255.0)"),
        ("abare", "int(5),add"), ("aempty", "int(5),add()"), ("adash", "int(5),add(-)"),
        ("abig", "int(5),add(9223372036854775808)"), ("ltbare", "str(x5),ltrim"), ("aip", "src,add(1)"),
        ("iph", "src,ipmask(24),hex")]),
}

HASH_INPUTS = ["", "a", "abc", "hello world", "The quick brown fox jumps over the lazy dog", "\xe9\xff",
               "x" * 300]

# group -> [(X-In value, or None for no header, or a request dict, [expected, in GROUPS order])]
CASES = {
    "hash": [(s, "hash") for s in HASH_INPUTS] + [(None, [N] * 31)],
    # fetch: req.hdr_cnt without a name counts every comma-separated value of every header (Host and
    # X-T included, an empty header counts 1). req.hdr_ip takes the last value; an ACL tries every
    # value, so in row 3 (last value '1.2.3.4:99999', a bad port) set-header gets no address ("")
    # while `-m found` is true. base32 = avalanche(sdbm(Host + path up to '?')) (checked:
    # base,sdbm(1)); base32+src = the hash as 4 big-endian bytes + the 4 bytes of 127.0.0.1.
    # url_param(a,;): the parameters start after the first ';' and '?' no longer ends a value.
    # HTTP/1.0 without Host: base is the path alone. nbsrv: b2 (one server disabled) 1, b3 (active
    # server disabled, two backups) 1 (only the first backup is used), b4 (same + option
    # allbackups) 2, b5 (no server) 0. srv_is_up of a `disabled` server: 0.
    "fetch": [
        ({'target': '/p/a?b=2&a=1;c=3', 'host': 'Example.com', 'headers': [('X-A', '1, 2'), ('X-A', '3'),
         ('X-IP', '10.0.0.1, 2001:db8::1'), ('X-IP', '192.168.0.9:8080')]}, ['8', '3', '3', '3', '0', '30',
         '192.168.0.9', '192.168.0.9', '10.0.0.1', '2001:db8::1', '192.168.0.0', 'Example.com/p/a',
         '4239653616', '4239653616', 'FCB3FAF07F000001', '/p/a', '1', '2', N, '2', N, '1', '1', '1', '2', '0',
         '1', N, '1', '0', '1', '0']),
        ({'target': '/x;a=5?a=&e', 'host': 'h:81', 'headers': [('X-IP', 'junk'), ('X-A', '')]}, ['4', '1',
         '1', '1', '0', '10', N, N, N, N, N, 'h:81/x;a=5', '367626181', '367626181', '15E987C57F000001',
         '/x;a=5', '', '', '5?a=', N, N, '1', '1', '1', '2', '0', '1', N, '1', '0', '1', '0']),
        ({'target': '/q?a=9', 'host': 'h', 'headers': [('X-IP', '10.0.0.1'), ('X-IP', '1.2.3.4:99999')]},
         ['4', '0', '0', '0', '0', '0', '', '', '10.0.0.1', N, '', 'h/q', '2696785216', '2696785216',
         'A0BDAD407F000001', '/q', '9', '9', N, N, N, '1', '1', '1', '2', '0', '1', N, '1', '0', '1', '0']),
        ({'method': 'POST', 'target': '/post?', 'host': None, 'version': 'HTTP/1.0', 'body': b'hello',
         'headers': [('X-IP', '::ffff:10.1.2.3')]}, ['3', '0', '0', '0', '0', '0', '::ffff:10.1.2.3',
         '::ffff:10.1.2.3', '::ffff:10.1.2.3', N, '10.1.0.0', '/post', '2438002851', '2438002851',
         '9150F8A37F000001', '/post', N, N, N, N, N, '1', '1', '1', '2', '0', '1', N, '1', '0', '1', '5']),
        ({'target': 'http://abs.example/r/s?a=1', 'host': 'abs.example', 'headers': []}, ['2', '0', '0', '0',
         '0', '0', N, N, N, N, N, 'abs.example/r/s', '3114516259', '3114516259', 'B9A3BF237F000001', '/r/s',
         '1', '1', N, N, N, '1', '1', '1', '2', '0', '1', N, '1', '0', '1', '0']),
    ],
    "bytes": [
        ('abcdef', ['abcdef', 'bcdef', 'cde', '', 'f', '', 'bcdef', 'd', '', 'abcdef', '6263646566', '4']),
        ('abcde', ['abcde', 'bcde', 'cde', '', '', '', 'bcde', 'd', '', 'abcde', '62636465', '3']),
        ('a', ['a', '', '', '', '', '', '', '', '', 'a', '', '0']),
        ('', ['', '', '', '', '', '', '', '', '', '', '', '0']),
        (None, [N] * 12),
    ],
    "trim": [
        ('__a_b__', ['a_b__', '__a_b', 'a_b__', '__a_b', '__a_b__', 'a_b', '__a_b__', '5']),
        ('-_-x-_-', ['-_-x-_-', '-_-x-_-', 'x-_-', '-_-x', '-_-x-_-', '-_-x-_-', '-_-x-_-', '7']),
        ('____', ['', '', '', '', '____', '', '____', '0']),
        ('xax', ['xax', 'xax', 'xax', 'xax', 'a', 'xax', 'xax', '3']),
        (',,a,', [',,a,', ',,a,', ',,a,', ',,a,', ',,a,', ',,a,', 'a,', '4']),
        ('', ['', '', '', '', '', '', '', '0']),
        (None, [N] * 8),
    ],
    "concat": [
        ('in', ['in<V>', 'in<', 'inV', 'in>', 'in<>', 'in-42', 'in,V)', 'in1', 'in127.0.0.1', 'in<>', 'in',
         'in', 'in-V-', '3']),
        ('', ['<V>', '<', 'V', '>', '<>', '-42', ',V)', '1', '127.0.0.1', '<>', '', '', '-V-', '1']),
        (None, [N] * 14),
    ],
    "json": [
        ('Very "Ugly" UA 1/2', ['Very \\"Ugly\\" UA 1\\/2'] * 7),
        ("a\\b\tc'<>&", ["a\\\\b\\tc'<>&"] * 7),
        ('Ã©tÃ©', ['\\u00c3\\u00a9t\\u00c3\\u00a9', '\\u00c3\\u00a9t\\u00c3\\u00a9',
         '\\u00c3\\u00a9t\\u00c3\\u00a9', '\\u00e9t\\u00e9', '\\u00e9t\\u00e9', '\\u00e9t\\u00e9',
         '\\u00e9t\\u00e9']),
        ('café', ['caf\\u00e9', 'caf\\u00e9', 'caf\\u00e9', N, 'caf', N, 'caf']),
        ('À¯x', ['\\u00c0\\u00afx', '\\u00c0\\u00afx', '\\u00c0\\u00afx', N, 'x', '\\/x', '\\/x']),
        ('að\x9f\x98\x80b', ['a\\u00f0\\u009f\\u0098\\u0080b', 'a\\u00f0\\u009f\\u0098\\u0080b',
         'a\\u00f0\\u009f\\u0098\\u0080b', N, 'ab', N, 'ab']),
        ('aí\xa0\x80b', ['a\\u00ed\\u00a0\\u0080b', 'a\\u00ed\\u00a0\\u0080b', 'a\\u00ed\\u00a0\\u0080b', N,
         'ab', N, 'ab']),
        ('â\x82¬', ['\\u00e2\\u0082\\u00ac', '\\u00e2\\u0082\\u00ac', '\\u00e2\\u0082\\u00ac', '\\u20ac',
         '\\u20ac', '\\u20ac', '\\u20ac']),
        ('', [''] * 7),
        (None, [N] * 7),
    ],
    # int: the input is the header cast to an integer (leading sign and digits, saturating at the
    # 64-bit limits, "abc" -> 0, "" -> no sample). Division and modulo truncate toward zero as in C.
    # Row "-7": add(-3) and sub(3) (two negative operands) give LLONG_MAX in HAProxy 2.6.12, a bug
    # fixed upstream later (commit b982fc217, 2023-07); the test accepts either that value or -10.
    "int": [
        ('7', ['10', '4', '4', '10', '21', '-7', '3', '-3', '9223372036854775807', '1', '1', '0', '-7', '6',
         '15', '2', '-8', '1', '0', '1', '0', '17', N, '12', '7', '9223372036854775807', '3',
         '9223372036854775807', '-9223372036854775808', '-7', '0', '7', '2']),
        ('-7', ['-4', ('9223372036854775807', '-10'), ('9223372036854775807', '-10'), '-4', '-21', '7', '-3',
         '3', '9223372036854775807', '-1', '-1', '0', '7', '0', '-7', '-4', '6', '1', '0', '1', '0', '3', N,
         '-2', '-7', '9223372036854775807', '17', '9223372036854775801', '9223372036854775807', '7', '0',
         '-7', '2']),
        ('0', ['3', '-3', '-3', '3', '0', '0', '0', '0', '9223372036854775807', '0', '0', '0', '0', '0', '8',
         '5', '-1', '0', '1', '0', '1', '10', N, '5', '0', '9223372036854775807', '10', '9223372036854775807',
         '0', '0', '0', '0', '1']),
        ('9223372036854775807', ['9223372036854775807', '9223372036854775804', '9223372036854775804',
         '9223372036854775807', '9223372036854775807', '-9223372036854775807', '4611686018427387903',
         '-4611686018427387903', '9223372036854775807', '1', '1', '0', '-9223372036854775807', '6',
         '9223372036854775807', '9223372036854775802', '-9223372036854775808', '1', '0', '1', '0',
         '9223372036854775807', N, '9223372036854775807', '9223372036854775807', '9223372036854775807',
         '-9223372036854775797', '9223372036854775807', '-9223372036854775808', '-9223372036854775807', '0',
         '9223372036854775807', '2']),
        ('-9223372036854775808', ['-9223372036854775805', '-9223372036854775808', '-9223372036854775808',
         '-9223372036854775805', '-9223372036854775808', '9223372036854775807', '-4611686018427387904',
         '4611686018427387904', '9223372036854775807', '-2', '-2', '0', '9223372036854775807', '0',
         '-9223372036854775800', '-9223372036854775803', '9223372036854775807', '1', '0', '0', '1',
         '-9223372036854775798', N, '-9223372036854775803', '-9223372036854775808', '9223372036854775807',
         '9223372036854775807', '0', '9223372036854775807', '9223372036854775807', '0',
         '-9223372036854775808', '2']),
        ('99999999999999999999', ['9223372036854775807', '9223372036854775804', '9223372036854775804',
         '9223372036854775807', '9223372036854775807', '-9223372036854775807', '4611686018427387903',
         '-4611686018427387903', '9223372036854775807', '1', '1', '0', '-9223372036854775807', '6',
         '9223372036854775807', '9223372036854775802', '-9223372036854775808', '1', '0', '1', '0',
         '9223372036854775807', N, '9223372036854775807', '9223372036854775807', '9223372036854775807',
         '-9223372036854775797', '9223372036854775807', '-9223372036854775808', '-9223372036854775807', '0',
         '9223372036854775807', '2']),
        ('-99999999999999999999', ['-9223372036854775805', '-9223372036854775808', '-9223372036854775808',
         '-9223372036854775805', '-9223372036854775808', '9223372036854775807', '-4611686018427387904',
         '4611686018427387904', '9223372036854775807', '-2', '-2', '0', '9223372036854775807', '0',
         '-9223372036854775800', '-9223372036854775803', '9223372036854775807', '1', '0', '0', '1',
         '-9223372036854775798', N, '-9223372036854775803', '-9223372036854775808', '9223372036854775807',
         '9223372036854775807', '0', '9223372036854775807', '9223372036854775807', '0',
         '-9223372036854775808', '2']),
        ('12abc', ['15', '9', '9', '15', '36', '-12', '6', '-6', '9223372036854775807', '0', '0', '0', '-12',
         '4', '12', '9', '-13', '1', '0', '0', '1', '22', N, '17', '12', '9223372036854775807', '-2',
         '9223372036854775807', '-9223372036854775808', '-12', '0', '12', '2']),
        ('abc', ['3', '-3', '-3', '3', '0', '0', '0', '0', '9223372036854775807', '0', '0', '0', '0', '0',
         '8', '5', '-1', '0', '1', '0', '1', '10', N, '5', '0', '9223372036854775807', '10',
         '9223372036854775807', '0', '0', '0', '0', '1']),
        ('+5', ['8', '2', '2', '8', '15', '-5', '2', '-2', '9223372036854775807', '2', '2', '0', '-5', '4',
         '13', '0', '-6', '1', '0', '1', '0', '15', N, '10', '5', '9223372036854775807', '5',
         '9223372036854775807', '-9223372036854775808', '-5', '0', '5', '2']),
        ('1.9', ['4', '-2', '-2', '4', '3', '-1', '0', '0', '9223372036854775807', '1', '1', '0', '-1', '0',
         '9', '4', '-2', '1', '0', '1', '0', '11', N, '6', '1', '9223372036854775807', '9',
         '9223372036854775807', '-9223372036854775808', '-1', '0', '1', '2']),
        ('', [N] * 33),
        (None, [N] * 33),
    ],
    # hex2i: every character must be a hex digit (else no sample, although the doc says 0); "" -> 0;
    # past 16 digits the value wraps (shifted out on the left).
    "hex2i": [
        ('ff', ['255', '256']),
        ('FF', ['255', '256']),
        ('0', ['0', '1']),
        ('abc', ['2748', '2749']),
        ('7fffffffffffffff', ['9223372036854775807', '9223372036854775807']),
        ('ffffffffffffffff', ['-1', '0']),
        ('8000000000000000', ['-9223372036854775808', '-9223372036854775807']),
        ('123456789abcdef01', ['2541551405711093505', '2541551405711093506']),
        ('0x10', [N, N]),
        ('1 2', [N, N]),
        ('-1', [N, N]),
        ('', ['0', '1']),
        (None, [N, N]),
    ],
    # ipmask: the string-to-address cast reads a dotted quad up to the first character that is not a
    # digit or a dot ("1.2.3.4:80" and "10.0.0.1abc" are IPv4), else tries IPv6; ::ffff:a.b.c.d becomes
    # IPv4 before masking, ::a.b.c.d does not; IPv6 without a second mask: no sample.
    "ipm": [
        ('192.168.1.77', ['192.168.1.0', '192.168.0.0', '192.168.1.77', '0.0.0.0', '192.168.1.0',
         '192.168.1.0', '192.168.0.0', 'C0A80100']),
        ('10.1.2.3', ['10.1.2.0', '10.1.0.0', '10.1.2.3', '0.0.0.0', '10.1.2.0', '10.1.2.0', '10.1.0.0',
         '0A010200']),
        ('2001:db8:1:2:3:4:5:6', [N, N, N, N, '2001:db8:1:2::', '2001:db8::', '2001:db8:1:2:3:4:5:6', N]),
        ('::ffff:192.168.1.77', ['192.168.1.0', '192.168.0.0', '192.168.1.77', '0.0.0.0', '192.168.1.0',
         '192.168.1.0', '192.168.0.0', 'C0A80100']),
        ('::192.168.1.77', [N, N, N, N, '::', '::', '::192.168.1.77', N]),
        ('junk', [N] * 8),
        ('1.2.3.4:80', ['1.2.3.0', '1.2.0.0', '1.2.3.4', '0.0.0.0', '1.2.3.0', '1.2.3.0', '1.2.0.0',
         '01020300']),
        ('10.0.0.1abc', ['10.0.0.0', '10.0.0.0', '10.0.0.1', '0.0.0.0', '10.0.0.0', '10.0.0.0', '10.0.0.0',
         '0A000000']),
        ('1.2.3.4.', [N] * 8),
        ('', [N] * 8),
        ('300.1.1.1', [N] * 8),
        (None, [N] * 8),
    ],
    # cast: integers and booleans become 8 big-endian bytes for binary converters, IPv4 4 bytes. A
    # binary sample written into a header stops at its first NUL byte (bin(610062) -> "a"), and so
    # does length on it; url_dec output is a string, so bytes(0) keeps it a string (NUL shown as %00).
    "cast": [
        ('a%00b', ['42', '-5', '7', 'hello', '', '1', '0', '1', '0', 'FFFFFFFFFFFFFFFF', '00000000000000FF',
         '304476159', '0000000000000001', '891568578', '5x', '1', '-5', '13', '1', N, '2', '127.0.0.0',
         '7F000001', '1696554816', 'CB473678976F425D6EC1339838F11011007AD27D', 'a%00b', '610062', '3', '3',
         '6', '12345', '10', 'a', '610062', '1', '0062', '0', '9223372036854775807', '1', '', '0.0.0.0',
         '1.2.0.0', '232.0.0.0', '27.0.0.0', '1.0.3.0', '5', '5', '5', '9223372036854775807', 'x5',
         '2130706434', '7F000000']),
    ],
}

VAR_RULES = {
    "concat": ["set-var(txn.v) str(V)", "set-var(txn.n) int(-42)", "set-var(txn.e) str()",
               "set-var(txn.b) bool(true)", "set-var(txn.ip) src"],
    "int": ["set-var(txn.ten) int(10)", "set-var(txn.five) str(5)", "set-var(txn.xs) str(x5)",
            "set-var(txn.zero) int(0)"],
}


def main(h):
    o = http_origin.start(h, name="o")
    sock = h.sock_path()
    port = eslib.free_port()
    lines = []
    for g, (fetch, convs) in GROUPS.items():
        sel = f"{{ req.hdr(x-t) -m str {g} }}"
        for v in VAR_RULES.get(g, []):
            lines.append(f"http-request {v} if {sel}")
        for name, conv in convs:
            expr = conv if fetch is None else f"{fetch},{conv}"
            lines.append(f"http-request set-header X-O-{name} %[{expr}] if {sel}")
            lines.append(f"http-request set-header X-F-{name} 1 if {sel} {{ {expr} -m found }}")
    srv = f"{L}:{o.port}"
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"bind {L}:{port}\n" + "\n".join(lines) + "\ndefault_backend be")
    # nbsrv without an argument needs a proxy with the backend capability: used in `be` itself
    cfg += eslib.section("backend be", f"http-request set-header X-B-nbsrv %[nbsrv]\nserver s1 {srv}")
    cfg += eslib.section("backend b2", f"server s1 {srv}\nserver s2 {srv} disabled")
    cfg += eslib.section("backend b3", f"server a {srv} disabled\nserver k1 {srv} backup\nserver k2 {srv} backup")
    cfg += eslib.section("backend b4", f"option allbackups\nserver a {srv} disabled\nserver k1 {srv} backup\n"
                                       f"server k2 {srv} backup")
    cfg += eslib.section("backend b5", "")
    # the response's header fetches: res.hdr_cnt / res.hdr_ip (hdr_cnt / hdr_ip read the request: refused there, §3)
    port_r = eslib.free_port()
    cfg += eslib.section("frontend fr", f"""
        bind {L}:{port_r}
        http-response set-header X-RC %[res.hdr_cnt(x-origin)]/%[res.hdr_cnt(content-type)]/%[res.hdr_cnt]
        http-response set-header X-RI %[res.hdr_ip(x-ipr)]/%[res.hdr_ip(x-origin)]
        http-response add-header X-IPR 10.1.2.3:80
        http-response set-header X-RI2 %[res.hdr_ip(x-ipr)]
        default_backend be""")
    eslib.start_proxy(h, cfg, ports=[port, port_r], sock=sock)
    r = eslib.http_get(port_r, "/")
    check_eq((r.header("x-rc"), r.header("x-ri"), r.header("x-ri2")), ("1/1/6", "/", "10.1.2.3"),
             "2: res.hdr_cnt / res.hdr_ip in http-response read the response (6 values in all)")

    def send(tag, spec):
        if not isinstance(spec, dict):
            spec = {"headers": [] if spec is None else [("X-In", spec)]}
        n = o.request_count()
        r = eslib.http_get(port, spec.get("target", "/"), method=spec.get("method", "GET"),
                           headers=[("X-T", tag)] + spec.get("headers", []), body=spec.get("body", b""),
                           host=spec.get("host", "test.local"), version=spec.get("version", "HTTP/1.1"))
        check_eq((r.status, r.header("x-origin")), (200, "o"), f"[{tag}] {spec}: answered by o")
        return o.wait_requests(n + 1)[-1]

    dump = {}
    for g, (fetch, convs) in GROUPS.items():
        part = "2" if g == "fetch" else "1"
        for value, want in CASES[g]:
            if want == "hash":
                want = hash_row(value)
            check_eq(len(want), len(convs), f"test table {g} {value!r}")
            q = send(g, value)
            check_eq(http_origin.header_values(q, "x-b-nbsrv"), ["1"], f"{part}: [{g}] {value!r}: nbsrv in backend be")
            row = []
            for (name, conv), w in zip(convs, want):
                got = http_origin.header_values(q, f"x-o-{name}")
                found = http_origin.header_values(q, f"x-f-{name}")
                row.append(N if (found == [] and got == [""]) else (got[0] if len(got) == 1 else got))
                if DUMP:
                    continue
                expr = conv if fetch is None else f"{fetch},{conv}"
                what = f"{part}: [{g}] input={value!r}: {expr} ({name})"
                if isinstance(w, tuple):  # (HAProxy 2.6.12, fixed later): either passes
                    check(got in [[x] for x in w], f"{what}: expected one of {w!r}, got {got!r}")
                else:
                    check_eq(got, ["" if w is None else w], what)
                check_eq(found, [] if w is None else ["1"],
                         f"{what} -m found ({'no sample' if w is None else 'a sample'})")
            if DUMP:
                dump.setdefault(g, []).append((value, row, want))
        log(f"{part}: [{g}] {len(convs)} expressions x {len(CASES[g])} inputs")
    if DUMP:
        for g, rows in dump.items():
            print(f"--- {g}")
            for value, row, want in rows:
                print(f"    ({value!r}, {row!r}),")
                bad = [(c[0], a, w) for c, a, w in zip(GROUPS[g][1], row, want)
                       if a != w and not (isinstance(w, tuple) and a in w)]
                if bad:
                    print(f"      MISMATCH {bad}")
        return

    # ------------------------------------------------------------------ 3. -c

    def refused(rule, fragments, what):
        text = eslib.http_defaults() + eslib.section("frontend fe", f"""
            bind {L}:{eslib.free_port()}
            {rule}
            default_backend be""") + eslib.section("backend be", f"server s1 {L}:{o.port}")
        eslib.check_refused(h, text, rule, fragments, f"3: {what}")

    sh = "http-request set-header X-O "
    for conv, msg in [
            ("sub(abc)", "invalid args in converter 'sub' : expects an integer or a variable name"),
            ("add(foo.bar)", "invalid args in converter 'add' : expects an integer or a variable name"),
            ("mul(0x10)", "invalid args in converter 'mul' : expects an integer or a variable name"),
            ("add(1,2)", "invalid arg 2 in converter 'add' : expected ')' before ',2)]'"),
            ("neg(1)", "invalid arg 1 in converter 'neg' : expected ')' before '1)]'"),
            ("hex2i(1)", "invalid arg 1 in converter 'hex2i' : expected ')' before '1)]'"),
            ("bytes", "invalid arg 1 in converter 'bytes' : expected type 'integer' at position 1, but got nothing"),
            ("bytes()", "invalid arg 1 in converter 'bytes' : expected type 'integer' at position 1, but got nothing"),
            ("bytes(a)", "invalid arg 1 in converter 'bytes' : failed to parse 'a' as type 'integer' at position 1"),
            ("bytes(1,2,3)", "invalid arg 2 in converter 'bytes' : expected ')' before ',3)]'"),
            ("crc32(a)", "invalid arg 1 in converter 'crc32' : failed to parse 'a' as type 'integer' at position 1"),
            ("xxh64(1,2)", "invalid arg 2 in converter 'xxh64' : expected ')' before ',2)]'"),
            ("sha2(100)", "invalid args in converter 'sha2' : Unsupported number of bits: '100'"),
            ("sha2(abc)", "invalid arg 1 in converter 'sha2' : failed to parse 'abc' as type 'integer' at position 1"),
            ("digest(nosuch)", "invalid args in converter 'digest' : algorithm must be a valid OpenSSL message "
                               "digest name"),
            ("digest", "invalid args in converter 'digest' : algorithm must be a valid OpenSSL message digest name"),
            ("json(x)", "invalid args in converter 'json' : Unexpected input code type. Allowed value are 'ascii', "
                        "'utf8', 'utf8s', 'utf8p' and 'utf8ps'"),
            ("ipmask", "invalid arg 1 in converter 'ipmask' : expected type 'IPv4 mask' at position 1, but got nothing"),
            ("ipmask(33)", "invalid arg 1 in converter 'ipmask' : failed to parse '33' as type 'IPv4 mask' at position 1"),
            ("ipmask(24,129)", "invalid arg 2 in converter 'ipmask' : failed to parse '129' as type 'IPv6 mask' at "
                               "position 2"),
            ("rtrim(a,b)", "invalid arg 2 in converter 'rtrim' : expected ')' before ',b)]'"),
            ("concat(a,foo.bar)", "invalid args in converter 'concat' : failed to register variable name 'foo.bar'"),
            ("concat(a,txn)", "invalid args in converter 'concat' : failed to register variable name 'txn'"),
            ("concat(a,b,c,d)", "invalid arg 3 in converter 'concat' : expected ')' before ',d)]'")]:
        refused(sh + f"%[req.hdr(x-a),{conv}]", ["'http-request set-header", msg], conv)
    for fetch, msg in [
            ("int(abc)", "fetch method 'int' : failed to parse 'abc' as type 'integer' at position 1"),
            ("int(0x10)", "fetch method 'int' : failed to parse '0x10' as type 'integer' at position 1"),
            ("int", "fetch method 'int' : expected type 'integer' at position 1, but got nothing"),
            ("bool(yes)", "invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'"),
            ("bool", "invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'"),
            ("bin(123)", "invalid args in fetch method 'bin' : an even number of hex digit is expected"),
            ("req.hdr_cnt(a,b)", "fetch method 'req.hdr_cnt' : expected ')' before ',b)]'"),
            ("req.hdr_ip(x,y)", "fetch method 'req.hdr_ip' : failed to parse 'y' as type 'integer' at position 2"),
            ("url_param(a,b,c)", "fetch method 'url_param' : expected ')' before ',c)]'"),
            ("base32(1)", "fetch method 'base32' : expected ')' before '1)]'"),
            ("nbsrv(nosuch)", "unable to find backend 'nosuch' referenced in arg 1 of sample fetch keyword 'nbsrv' "
                              "in http-request expression in proxy 'fe'"),
            ("nbsrv", "proxy 'fe', referenced in arg 1 of sample fetch keyword 'nbsrv' in http-request expression "
                      "in proxy 'fe', has not backend capability"),
            ("srv_is_up(be/nosuch)", "unable to find server 'nosuch' in proxy 'be', referenced in arg 1 of sample "
                                     "fetch keyword 'srv_is_up'"),
            ("srv_is_up(s1)", "unable to find server 's1' in proxy 'fe', referenced in arg 1 of sample fetch "
                              "keyword 'srv_is_up'"),
            ("srv_is_up(nosuch/s1)", "unable to find proxy 'nosuch' referenced in arg 1 of sample fetch keyword "
                                     "'srv_is_up'"),
            ("srv_is_up", "missing server name in arg 1 of sample fetch keyword 'srv_is_up'")]:
        refused(sh + f"%[{fetch}]", [msg], fetch)
    refused("http-response set-header X-C %[hdr_cnt(x-a)]", ["http-response set-header", "needs 'HTTP request headers'"],
            "hdr_cnt in http-response")
    refused("acl a req.hdr(x-a),div(x) -m int 1",
            ["error detected while parsing ACL 'a'", "invalid args in converter 'div' : expects an integer or a "
             "variable name"], "ACL div(x)")
    refused("http-request set-var(txn.x) req.hdr(x-a),ipmask(24,x)",
            ["'http-request set-var(txn.x)'", "failed to parse 'x' as type 'IPv6 mask' at position 2"],
            "set-var ipmask(24,x)")
    log("3: -c refusals")


if __name__ == "__main__":
    eslib.run_http(main)
