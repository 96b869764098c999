"""The writer process: ``python -m mnemos.memory_adapters.conformance._worker SPEC``.

SPEC is JSON: ``opener`` (see :class:`ProcessOpener`), ``scope``, ``label``,
``wait`` (read one line from stdin before starting) and the job: either
``namespace`` and ``count`` (single adds; prints ``ack <index> <id>`` after
each add returns) or ``mode: "import"`` with ``file`` and ``batch_size``
(prints ``progress <done> <total>`` as the import reports it). Prints
``ready`` first and ``done`` last.
"""

from __future__ import annotations

import json
import sys

from mnemos.memory_adapters.conformance._process import open_from_opener
from mnemos.memory_adapters.conformance._support import write_content


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    out = sys.stdout

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    adapter = open_from_opener(spec["opener"], scope=spec.get("scope", ()))
    try:
        say("ready")
        if spec.get("wait"):
            sys.stdin.readline()
        if spec.get("mode") == "import":
            adapter.import_jsonl(
                spec["file"],
                batch_size=int(spec["batch_size"]),
                on_progress=lambda done, total: say(f"progress {done} {total}"),
            )
        else:
            label, namespace = spec["label"], tuple(spec["namespace"])
            for index in range(int(spec["count"])):
                record = adapter.add(
                    write_content(label, index),
                    namespace=namespace,
                    metadata={"writer": label, "index": index},
                )
                say(f"ack {index} {record.id}")
        say("done")
    finally:
        adapter.close()
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
