"""Peak memory of verifying an s3_json backup: 2,000 items against 200,000, side by side, in one run.

Starts a moto server on 127.0.0.1, writes two backups in the original format (generated as a
stream, so this script itself stays small), then verifies each in a fresh Python process that
reads it over HTTP through boto3, exactly as the verify step does, and reports that process's
peak RSS while verifying (Linux: the peak is reset after the imports, then read from VmHWM).
Verification streams the object once (ijson, the checksum one item at a time), so the
difference must stay under 50 MB while the object grows a hundredfold.

    PYTHONPATH=plugins:. .venv/bin/python benchmarks/verify_memory.py [--small 2000] [--large 200000]

Exits non-zero when the growth is 50 MB or more.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from demo.emulator import Emulator  # noqa: E402
from demo.sample_data import json_backup_key, sample_user  # noqa: E402
from dr_drill.core.sources.s3_json import OriginalChecksum  # noqa: E402

BUCKET = "bench-backups"
TABLE = "app-users"
LIMIT_MB = 50

# Runs in a fresh interpreter: imports first, then the verification whose peak RSS is measured.
CHILD = """
import json, sys, time, boto3
from dr_drill.aws.sources import Clients, adapter_for
from dr_drill.contracts import BackupRef

def vm(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

endpoint, bucket, key, table = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.head_bucket(Bucket=bucket)
import_peak = vm("VmHWM")
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # Linux: reset the peak, so the next VmHWM is the verification's own high-water mark
before = vm("VmRSS")
started = time.monotonic()
source = adapter_for("s3_json", Clients(s3=lambda: s3, dynamodb=lambda: None))
verified = source.verify(BackupRef(location=key, bucket=bucket, key=key), table)
print(json.dumps({"items": verified.item_count, "bytes": verified.size_bytes,
                  "seconds": round(time.monotonic() - started, 2), "import_peak_kb": import_peak,
                  "rss_before_kb": before, "peak_rss_kb": vm("VmHWM")}))
"""


def write_backup(path: Path, count: int, taken_at: datetime) -> None:
    """Write a valid original-format backup of ``count`` items without holding them."""
    rng = random.Random(count)
    checksum = OriginalChecksum()
    with path.open("w") as out:
        out.write(json.dumps({"table_name": TABLE, "backup_timestamp": taken_at.replace(tzinfo=None).isoformat()})[:-1])
        out.write(f', "item_count": {count}, "data": [')
        for number in range(count):
            text = json.dumps(sample_user(number, rng))
            checksum.add(json.loads(text))
            out.write(("" if number == 0 else ", ") + text)
        out.write(f'], "checksum": "{checksum.hexdigest()}"}}')


def measure(emulator: Emulator, key: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, emulator.endpoint_url, BUCKET, key, TABLE],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2, help="measurements of each size, alternating")
    args = parser.parse_args()
    with Emulator() as emulator, tempfile.TemporaryDirectory() as scratch:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        keys = {}
        for hour, count in enumerate((args.small, args.large)):
            taken_at = datetime(2026, 11, 26, hour, 30, tzinfo=UTC)
            path = Path(scratch) / f"{count}.json"
            write_backup(path, count, taken_at)
            keys[count] = json_backup_key(TABLE, taken_at)
            s3.upload_file(str(path), BUCKET, keys[count])
            path.unlink()
        runs: dict[int, list[dict]] = {args.small: [], args.large: []}
        for _ in range(args.repeat):
            for count in (args.small, args.large):
                runs[count].append(measure(emulator, keys[count]))
    peak = {count: max(run["peak_rss_kb"] for run in results) / 1024 for count, results in runs.items()}
    for count, results in runs.items():
        run = results[-1]
        print(
            f"{count:>8} items  {run['bytes'] / 1e6:8.1f} MB object  peak RSS {peak[count]:6.1f} MB"
            f"  (RSS {run['rss_before_kb'] / 1024:.1f} MB before verifying)  {run['seconds']:.1f} s"
        )
    growth = peak[args.large] - peak[args.small]
    print(f"peak RSS growth {args.small} -> {args.large} items: {growth:.1f} MB (limit {LIMIT_MB} MB)")
    return 0 if growth < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
