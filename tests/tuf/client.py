"""The independent TUF client of tests/tuf.rs: python-tuf's ngclient, as sigstore-python uses it.

    client.py METADATA_DIR BASE_URL [--root ROOT_JSON] [--download-dir DIR] TARGET...

Bootstraps from ROOT_JSON the first time (like `sigstore trust-instance`), then refreshes from
BASE_URL (TUF §5: root, timestamp, snapshot, targets) and downloads each TARGET into
DOWNLOAD_DIR. Prints one JSON line: the trusted versions and each target's path; on a refused
update it exits 1 and prints the python-tuf error class and message on stderr.
"""

import argparse
import json
import os
import sys

from tuf.api.exceptions import RepositoryError, DownloadError
from tuf.ngclient import Updater


def main():
    p = argparse.ArgumentParser()
    p.add_argument("metadata_dir")
    p.add_argument("base_url")
    p.add_argument("--root")
    p.add_argument("--download-dir", required=True)
    p.add_argument("targets", nargs="*")
    a = p.parse_args()
    os.makedirs(a.metadata_dir, exist_ok=True)
    os.makedirs(a.download_dir, exist_ok=True)
    bootstrap = None
    if a.root:
        with open(a.root, "rb") as f:
            bootstrap = f.read()
    base = a.base_url.rstrip("/")
    try:
        updater = Updater(
            metadata_dir=a.metadata_dir,
            metadata_base_url=base,
            target_base_url=base + "/targets/",
            target_dir=a.download_dir,
            bootstrap=bootstrap,
        )
        updater.refresh()
        paths = {}
        for name in a.targets:
            info = updater.get_targetinfo(name)
            if info is None:
                raise RepositoryError(f"no target {name}")
            paths[name] = updater.download_target(
                info, os.path.join(a.download_dir, name)
            )
    except (RepositoryError, DownloadError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    trusted = updater._trusted_set
    print(
        json.dumps(
            {
                "root": trusted.root.version,
                "timestamp": trusted.timestamp.version,
                "snapshot": trusted.snapshot.version,
                "targets": trusted.targets.version,
                "paths": paths,
            }
        )
    )


if __name__ == "__main__":
    main()
