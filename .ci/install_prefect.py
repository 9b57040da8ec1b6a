"""Install a Prefect release into the current interpreter's environment.

Prefect 3.9.x pins a `certifi` newer than some package indexes carry, so a plain
`pip install prefect==X` can fail for want of a CA bundle that nothing here uses.
When that happens we install the wheel without dependencies and install every
requirement it declares, relaxing only the ones the index cannot satisfy.

usage: python .ci/install_prefect.py [VERSION]
"""

from __future__ import annotations

import email
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RELAXABLE = {"certifi"}


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )


def main() -> int:
    version = sys.argv[1] if len(sys.argv) > 1 else "3.9.1"
    spec = f"prefect=={version}"
    plain = pip("install", "-q", spec, "fastapi<0.151")
    if plain.returncode == 0:
        print(f"installed {spec}")
        return 0
    print(f"plain install of {spec} failed; installing with relaxed {sorted(RELAXABLE)}")
    with tempfile.TemporaryDirectory() as tmp:
        got = pip("download", "-q", "--no-deps", spec, "-d", tmp)
        if got.returncode != 0:
            print(got.stderr, file=sys.stderr)
            return 1
        wheel = next(Path(tmp).glob("prefect-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            message = email.message_from_bytes(zf.read(meta))
        requirements = []
        for req in message.get_all("Requires-Dist") or []:
            if "extra ==" in req:
                continue
            name = req.split(";")[0]
            for sep in "<>=!~[ (":
                name = name.split(sep)[0]
            requirements.append(name.strip() if name.strip().lower() in RELAXABLE else req)
        deps = pip("install", "-q", *requirements)
        if deps.returncode != 0:
            print(deps.stderr, file=sys.stderr)
            return 1
        done = pip("install", "-q", "--no-deps", str(wheel))
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
    print(f"installed {spec} (relaxed: {sorted(RELAXABLE)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
