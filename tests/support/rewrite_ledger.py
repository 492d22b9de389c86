#!/usr/bin/env python3
"""Rewrite one field of one event of a glasskey ledger, then recompute the whole
hash chain and the anchor, written from docs/ledger.md alone (an implementation
independent of glasskey's own): what someone who can write the kit could do.

usage: rewrite_ledger.py KIT_DIR SEQ FIELD JSON_VALUE
"""
import hashlib
import json
import os
import sys


def canonical(record):
    # docs/ledger.md: fields in order, no whitespace, strings escaped as
    # serde_json does (only '"', '\\' and control characters), raw UTF-8.
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def main():
    kit, seq, field, value = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    path = os.path.join(kit, "ledger.jsonl")
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b"", "the ledger must end with a newline"
    prev = "0" * 64
    out = []
    for line in lines[:-1]:
        record = json.loads(line)  # dicts keep the file's field order
        del record["hash"]
        record["prev"] = prev
        if record["seq"] == seq:
            assert field in record["event"], f"event {seq} has no field {field}"
            record["event"][field] = value
        body = canonical(record)
        digest = hashlib.sha256(body).hexdigest()
        out.append(body[:-1] + b',"hash":"' + digest.encode() + b'"}')
        prev = digest
    with open(path, "wb") as f:
        f.write(b"\n".join(out) + b"\n")
    with open(os.path.join(kit, "ledger.head"), "w") as f:
        f.write(f"{len(out)} {prev}\n")


if __name__ == "__main__":
    main()
