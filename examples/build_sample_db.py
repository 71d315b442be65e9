"""Build examples/sample_data.db from examples/sample_data.sql (run from anywhere).

    python examples/build_sample_db.py [OUTPUT]

Uses only the standard library, so it works before sqlsentinel is installed.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(output: Path) -> None:
    """Recreate ``output`` from the SQL file next to this script."""
    output.unlink(missing_ok=True)
    with sqlite3.connect(output) as connection:
        connection.executescript((HERE / "sample_data.sql").read_text(encoding="utf-8"))
    connection.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "sample_data.db"
    build(target)
    print(f"wrote {target}")
