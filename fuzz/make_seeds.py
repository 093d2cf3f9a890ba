#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/ (small, real inputs).

The files are committed; run this only to regenerate them after a format
change: python3 fuzz/make_seeds.py
"""
import gzip
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
MAGIC = b"SKVLOG1\n"


def request(method, target, headers=b"", body=b""):
    return (method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n" + body)


def record(kind, key, value=b""):
    rest = struct.pack("<BII", kind, len(key), len(value)) + key + value
    return struct.pack("<I", zlib.crc32(rest)) + rest


REQUESTS = {
    "put": request(b"PUT", b"/v1/kv/greeting", b"Content-Length: 5\r\n", b"hello"),
    "put_get_delete": request(b"PUT", b"/v1/kv/k1", b"Content-Length: 3\r\n", b"abc")
    + request(b"GET", b"/v1/kv/k1")
    + request(b"HEAD", b"/v1/kv/k1")
    + request(b"DELETE", b"/v1/kv/k1")
    + request(b"GET", b"/v1/kv/k1"),
    "put_chunked": request(b"PUT", b"/v1/kv/chunked", b"Transfer-Encoding: chunked\r\n",
                           b"5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"),
    "put_gzip": request(b"PUT", b"/v1/kv/zipped",
                        b"Content-Encoding: gzip\r\nContent-Length: 25\r\n",
                        gzip.compress(b"hello", mtime=0)),
    "put_expect": request(b"PUT", b"/v1/kv/big", b"Content-Length: 2000\r\nExpect: 100-continue\r\n"),
    "list": request(b"PUT", b"/v1/kv/a.1", b"Content-Length: 1\r\n", b"1")
    + request(b"PUT", b"/v1/kv/a.2", b"Content-Length: 1\r\n", b"2")
    + request(b"GET", b"/v1/kv?prefix=a.&limit=1")
    + request(b"GET", b"/v1/kv"),
    "healthz_keepalive": request(b"GET", b"/healthz", b"Connection: keep-alive\r\n")
    + request(b"GET", b"/healthz", b"Connection: close\r\n"),
    "bad_key": request(b"PUT", b"/v1/kv/a%00b", b"Content-Length: 1\r\n", b"x")
    + request(b"GET", b"/v1/kv/%C3%A9")
    + request(b"GET", b"/v1/kv/\xff\xfe"),
    "bad_query": request(b"GET", b"/v1/kv?limit=0&prefix=%2F"),
    "bad_length": request(b"PUT", b"/v1/kv/x", b"Content-Length: 1x\r\n", b"abc"),
    "too_large": request(b"PUT", b"/v1/kv/x", b"Content-Length: 1001\r\n", b"v" * 1001),
    "no_length": request(b"PUT", b"/v1/kv/x", b"", b"abc"),
    "wrong_method": request(b"POST", b"/v1/kv/x", b"Content-Length: 1\r\n", b"x")
    + request(b"TRACE", b"/healthz"),
    "http10": b"GET /healthz HTTP/1.0\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x10\x01\x02\x01\xfc\x03\x03\r\n\r\n",
    "nul_in_header": request(b"PUT", b"/v1/kv/nul", b"Content-Length: 1\x00 99\r\n", b"x"),
    "range": request(b"PUT", b"/v1/kv/r", b"Content-Length: 10\r\n", b"0123456789")
    + request(b"GET", b"/v1/kv/r", b"Range: bytes=2-4\r\n"),
}

RECORDS = (record(1, b"greeting", b"hello") + record(1, b"color", b"red")
           + record(2, b"greeting"))
DATA_LOGS = {
    "three_records": MAGIC + RECORDS,
    "truncated": MAGIC + RECORDS[:-3],
    "bad_crc": MAGIC + record(1, b"a", b"1") + b"\x00" + record(1, b"b", b"2")[1:],
    "zeros_after": MAGIC + record(1, b"a", b"1") + b"\x00" * 32,
    "magic_only": MAGIC,
    "torn_magic": MAGIC[:5],
    "foreign": b"not a data file\n",
}

for name, corpus in (("request", REQUESTS), ("data_log", DATA_LOGS)):
    directory = HERE / "corpus" / name
    directory.mkdir(parents=True, exist_ok=True)
    for file, data in corpus.items():
        (directory / file).write_bytes(data)
