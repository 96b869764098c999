"""The writer process: ``python -m mnemos.memory_adapters.conformance._worker SPEC``.

SPEC is JSON: ``opener`` (see :class:`ProcessOpener`), ``scope``, ``namespace``,
``label``, ``count`` and ``wait`` (read one line from stdin before writing).
Prints ``ready``, then ``ack <index> <id>`` after each add returns, then ``done``.
"""

from __future__ import annotations

import json
import sys

from mnemos.memory_adapters.conformance._process import open_from_opener
from mnemos.memory_adapters.conformance._support import write_content


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    label = spec["label"]
    namespace = tuple(spec["namespace"])
    out = sys.stdout
    adapter = open_from_opener(spec["opener"], scope=spec.get("scope", ()))
    try:
        out.write("ready\n")
        out.flush()
        if spec.get("wait"):
            sys.stdin.readline()
        for index in range(int(spec["count"])):
            record = adapter.add(
                write_content(label, index),
                namespace=namespace,
                metadata={"writer": label, "index": index},
            )
            out.write(f"ack {index} {record.id}\n")
            out.flush()
        out.write("done\n")
        out.flush()
    finally:
        adapter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
