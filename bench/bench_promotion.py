"""Promotion of a ~50 MB image by digest: our registry copy vs ``skopeo copy`` vs docker pull+tag+push.

Usage: ``.venv/bin/python bench/bench_promotion.py [--mib 50] [--repeat 3]``

Starts loopback ``docker-registry`` processes (a source, and a fresh empty target for every
measurement), builds ``busybox + <mib> MiB random layer`` with the daemon, pushes it to the
source, then times (median of ``--repeat``):

* ``ours``: ``registry_client.copy_image`` to another registry (stream), then within the source
  registry to a new repository (cross-repository mount: 0 blob bytes moved);
* ``skopeo``: ``skopeo copy --preserve-digests docker://src@digest docker://dst:tag``;
* ``docker``: ``docker pull`` (local copy removed first) + ``docker tag`` + ``docker push``.

Targets (issue 4): ours ≤ 1.0× skopeo, ≤ 0.2× the docker CLI path, 0 bytes within one registry.
Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "docker"))
sys.path.insert(0, str(ROOT))

import dockerinfra  # noqa: E402

from kestra_dagster.oci.client import RegistryClient, copy_image  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _remove(client, image_id: str) -> None:
    """Remove the image and every tag or digest reference to it (the docker path starts cold)."""
    try:
        client.images.remove(image_id, force=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for tool in ("docker-registry", "skopeo", "docker"):
        if not shutil.which(tool):
            print(f"{tool} is not installed; see the module docstring", file=sys.stderr)
            return 2
    reason, stop_daemon = dockerinfra.ensure_daemon()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    import docker

    client = docker.from_env(timeout=600)
    registries: list[dockerinfra.Registry] = []
    work = Path(tempfile.mkdtemp(prefix="kd-bench-"))
    tag = None
    image_id = ""
    try:
        source = dockerinfra.Registry().start()
        registries.append(source)
        dockerinfra.busybox_image(client)
        (work / "blob.bin").write_bytes(os.urandom(args.mib * 1024 * 1024))
        tag = f"{source.host}/bench/app:1"
        image_id = dockerinfra.build_image(client, tag, f"FROM {dockerinfra.BASE_TAG}\nCOPY blob.bin /blob.bin\n",
                                {"blob.bin": work / "blob.bin"})
        for line in client.api.push(f"{source.host}/bench/app", tag="1", stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(line["error"])
        src = RegistryClient(source.host)
        digest = src.resolve("bench/app", "1")
        size = sum(int(b.get("size", 0)) for b in src.get_manifest("bench/app", digest).blobs())
        print(f"image {source.host}/bench/app@{digest} ({size / 1e6:.1f} MB compressed)")

        def fresh() -> dockerinfra.Registry:
            reg = dockerinfra.Registry().start()
            registries.append(reg)
            return reg

        results: dict[str, list[float]] = {"ours": [], "ours-same-registry": [], "skopeo": [], "docker": []}
        same_bytes = []
        for n in range(args.repeat):
            dst = fresh()
            with RegistryClient(dst.host) as target:
                results["ours"].append(timed(lambda: copy_image(src, "bench/app", digest, target, "prod/app", ["v1"])))
                assert target.resolve("prod/app", "v1") == digest
            report = {}

            def same():
                report["r"] = copy_image(src, "bench/app", digest, src, f"prod/app{n}", ["v1"])

            results["ours-same-registry"].append(timed(same))
            same_bytes.append(report["r"].bytes_uploaded)

            dst = fresh()
            results["skopeo"].append(timed(lambda: subprocess.run(
                ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
                 f"docker://{source.host}/bench/app@{digest}", f"docker://{dst.host}/prod/app:v1"], check=True)))
            dst = fresh()
            _remove(client, image_id)

            def docker_path():
                cli = shutil.which("docker")
                env = {**os.environ, "DOCKER_CLI_HINTS": "false"}
                subprocess.run([cli, "pull", "-q", f"{source.host}/bench/app@{digest}"], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                subprocess.run([cli, "tag", f"{source.host}/bench/app@{digest}", f"{dst.host}/prod/app:v1"], check=True)
                subprocess.run([cli, "push", "-q", f"{dst.host}/prod/app:v1"], check=True, env=env,
                               stdout=subprocess.DEVNULL)

            results["docker"].append(timed(docker_path))
            for old in registries[1:]:
                old.stop()
            del registries[1:]
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"\npromotion of {args.mib} MiB by digest, median of {args.repeat} (fresh empty target each time)")
        print(f"{'method':<22}{'seconds':>10}{'vs skopeo':>12}{'vs docker':>12}")
        for name, value in med.items():
            print(f"{name:<22}{value:>10.3f}{value / med['skopeo']:>11.2f}x{value / med['docker']:>11.2f}x")
        print(f"\nblob bytes moved within one registry (cross-repository mount): {max(same_bytes)}")
        ok = med["ours"] <= med["skopeo"] * 1.0 and med["ours"] <= med["docker"] * 0.2 and max(same_bytes) == 0
        print("targets (≤1.0× skopeo, ≤0.2× docker, 0 bytes same registry):", "met" if ok else "NOT met")
        return 0
    finally:
        for reg in registries:
            reg.stop()
        if tag:
            _remove(client, image_id)
        client.close()
        shutil.rmtree(work, ignore_errors=True)
        stop_daemon()


if __name__ == "__main__":
    sys.exit(main())
