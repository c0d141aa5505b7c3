"""Cosign interoperability: cosign's keys and signatures verify with our code, ours with openssl."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.oci.client import RegistryClient, attachment_tag
from kestra_dagster.tasks.cosign._cosign import (
    CosignError,
    generate_key_pair,
    load_private_key,
    load_public_key,
    simple_signing_payload,
    verify_signature_file,
)
from kestra_dagster.tasks.cosign.sign import Sign
from kestra_dagster.tasks.cosign.verify import Verify
from kestra_dagster.tasks.docker.build import Build
from kestra_dagster.tasks.docker.promote import Promote

FIXTURE_PASSWORD = "hello"


def fixture_bytes(path):
    """A fixture file's bytes; git symlinks copied as plain files (``../other/file``) are followed."""
    for _ in range(4):
        data = path.read_bytes()
        text = data.decode("utf-8", "replace").strip()
        if len(data) < 200 and not data.startswith(b"\x00") and "/" in text and (path.parent / text).is_file():
            path = path.parent / text
            continue
        return data
    return data


@pytest.fixture(scope="module")
def keypair():
    return generate_key_pair("kd-pass")


# ---------------------------------------------------------------- fixtures made by cosign
@pytest.mark.parametrize("name", ["encrypted-cosign-key.pem", "encrypted-cosign-ec-key.pem", "encrypted-sigstore-key.pem"])
def test_decrypts_cosigns_own_test_keys(shared_dir, name):
    pem = (shared_dir / "fixtures/cosign/cosign-keys" / name).read_text()
    key = load_private_key(pem, FIXTURE_PASSWORD)
    assert key.curve.name == "secp256r1"
    with pytest.raises(CosignError, match="wrong password"):
        load_private_key(pem, "not-hello")


@pytest.mark.parametrize("folder,pub", [
    ("dir-img-cosign-valid", "cosign.pub"),
    ("dir-img-cosign-valid-2", "cosign.pub"),
    ("dir-img-cosign-valid-with-tag", "cosign.pub"),
    ("dir-img-cosign-key-rekor-valid", "cosign2.pub"),
])
def test_accepts_real_cosign_signatures(shared_dir, folder, pub):
    base = shared_dir / "fixtures/cosign/containers-image"
    key = load_public_key((base / pub).read_text())
    claim = verify_signature_file(fixture_bytes(base / folder / "manifest.json"),
                                  fixture_bytes(base / folder / "signature-1"), key)
    assert claim.digest.startswith("sha256:")


def test_mixed_folder_has_one_valid_cosign_signature(shared_dir):
    base = shared_dir / "fixtures/cosign/containers-image"
    key = load_public_key((base / "cosign.pub").read_text())
    manifest = fixture_bytes(base / "dir-img-cosign-mixed/manifest.json")
    results = []
    for sig in sorted((base / "dir-img-cosign-mixed").glob("signature-*")):
        try:
            verify_signature_file(manifest, fixture_bytes(sig), key)
            results.append(True)
        except CosignError:
            results.append(False)
    assert any(results)


@pytest.mark.parametrize("folder,pub,why", [
    ("dir-img-cosign-manifest-digest-error", "cosign.pub", "payload signs"),
    ("dir-img-cosign-modified-manifest", "cosign.pub", "payload signs"),
    ("dir-img-cosign-valid", "cosign2.pub", "verification failed"),
    ("dir-img-cosign-key-rekor-valid", "cosign.pub", "verification failed"),
    ("dir-img-cosign-other-attachment", "cosign.pub", "not a cosign signature"),
    ("dir-img-cosign-fulcio-rekor-valid", "cosign.pub", "verification failed"),
    ("dir-img-cosign-pki-valid", "cosign.pub", "verification failed"),
])
def test_rejects_tampered_or_foreign_signatures(shared_dir, folder, pub, why):
    base = shared_dir / "fixtures/cosign/containers-image"
    key = load_public_key((base / pub).read_text())
    with pytest.raises(CosignError, match=why):
        verify_signature_file(fixture_bytes(base / folder / "manifest.json"),
                              fixture_bytes(base / folder / "signature-1"), key)


def test_rejects_signature_by_unknown_key(shared_dir):
    base = shared_dir / "fixtures/cosign/containers-image"
    key = load_public_key((base / "cosign.pub").read_text())
    with pytest.raises(CosignError, match="verification failed"):
        verify_signature_file(fixture_bytes(base / "dir-img-cosign-valid/manifest.json"),
                              fixture_bytes(base / "unknown-cosign-key.signature"), key)


def test_payload_is_byte_identical_to_cosigns(shared_dir):
    """Re-marshal the payload cosign signed in a fixture: our bytes must be the same."""
    base = shared_dir / "fixtures/cosign/containers-image/dir-img-cosign-valid"
    doc = json.loads(fixture_bytes(base / "signature-1")[len(b"\x00sigstore-json"):])
    theirs = base64.b64decode(doc["payload"])
    parsed = json.loads(theirs)
    ours = simple_signing_payload(parsed["critical"]["identity"]["docker-reference"],
                                  parsed["critical"]["image"]["docker-manifest-digest"], parsed.get("optional"))
    assert ours == theirs


def test_verify_task_offline_mode_on_fixtures(shared_dir, make_ctx):
    base = shared_dir / "fixtures/cosign/containers-image"
    pub = (base / "cosign.pub").read_text()
    ok = Verify(id="v", type=Verify.kestra_type, publicKey=pub, manifest=str(base / "dir-img-cosign-valid/manifest.json"),
                signatures=[str(base / "dir-img-cosign-valid/signature-1")]).run(make_ctx("v"))
    assert ok["verified"] == 1
    with pytest.raises(TaskFailed, match="no valid cosign signature"):
        Verify(id="v", type=Verify.kestra_type, publicKey=pub,
               manifest=str(base / "dir-img-cosign-modified-manifest/manifest.json"),
               signatures=[str(base / "dir-img-cosign-modified-manifest/signature-1")]).run(make_ctx("v"))


# ---------------------------------------------------------------- our signatures on a registry
@pytest.mark.slow
def test_sign_tag_resolves_digest_verify_and_openssl(docker_daemon, base_image, registry, keypair, make_ctx, tmp_path, unique):
    priv, pub = keypair
    repo = f"{registry.host}/signed/app-{unique}"
    built = Build(id="b", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:1"],
                  dockerfile=f"FROM {base_image}\nRUN echo {unique} > /id\n").run(make_ctx("b"))
    digest = built["digest"]
    ctx = make_ctx("sign", variables={"key": priv, "pw": "kd-pass"})
    out = Sign(id="sign", type=Sign.kestra_type, image=f"{repo}:1", key="{{ key }}", password="{{ pw }}",
               annotations={"scan": "passed"}).run(ctx)
    assert out["digest"] == digest
    assert digest in ctx.logger.text() and "kd-pass" not in ctx.logger.text()
    assert out["signatureTag"] == attachment_tag(digest, ".sig")

    ok = Verify(id="v", type=Verify.kestra_type, image=f"{repo}@{digest}", publicKey=pub).run(make_ctx("v"))
    assert ok["verified"] == 1 and ok["claims"][0]["annotations"] == {"scan": "passed"}
    Verify(id="v", type=Verify.kestra_type, image=f"{repo}:1", publicKey=pub, annotations={"scan": "passed"}).run(make_ctx("v"))
    with pytest.raises(TaskFailed):
        Verify(id="v", type=Verify.kestra_type, image=f"{repo}:1", publicKey=pub, annotations={"scan": "x"}).run(make_ctx("v"))
    _, other_pub = generate_key_pair("x")
    with pytest.raises(TaskFailed, match="no valid cosign signature"):
        Verify(id="v", type=Verify.kestra_type, image=f"{repo}:1", publicKey=other_pub).run(make_ctx("v"))

    # independent check: openssl verifies the signature over the payload we pushed
    rc = RegistryClient(registry.host)
    sig_manifest = json.loads(rc.get_manifest(f"signed/app-{unique}", out["signatureTag"]).raw)
    layer = sig_manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    (tmp_path / "payload.json").write_bytes(rc.get_blob(f"signed/app-{unique}", layer["digest"]))
    (tmp_path / "sig.der").write_bytes(base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]))
    (tmp_path / "cosign.pub").write_text(pub)
    if shutil.which("openssl"):
        res = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "cosign.pub"), "-signature",
                              str(tmp_path / "sig.der"), str(tmp_path / "payload.json")], capture_output=True, text=True)
        assert res.returncode == 0 and "Verified OK" in res.stdout
        (tmp_path / "other.pub").write_text(other_pub)
        res = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "other.pub"), "-signature",
                              str(tmp_path / "sig.der"), str(tmp_path / "payload.json")], capture_output=True, text=True)
        assert res.returncode != 0

    # the signature travels with a promotion and satisfies requireSignature there
    target = f"{registry.host}/prod/signed-{unique}:v1"
    promoted = Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{digest}", target=target,
                       requireSignature={"publicKey": pub}).run(make_ctx("p"))
    assert promoted["policy"]["signature"]["verified"] == 1
    Verify(id="v", type=Verify.kestra_type, image=target, publicKey=pub).run(make_ctx("v"))
    unsigned = Build(id="b", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:unsigned"],
                     dockerfile=f"FROM {base_image}\nRUN echo unsigned-{unique} > /id\n").run(make_ctx("b"))
    with pytest.raises(TaskFailed, match="no valid cosign signature"):
        Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{unsigned['digest']}", target=target,
                requireSignature={"publicKey": pub}).run(make_ctx("p"))
    for b in (built, unsigned):
        docker_daemon.images.remove(b["imageId"], force=True)


@pytest.mark.slow
def test_fixture_key_signs_and_second_signature_appends(docker_daemon, base_image, registry, shared_dir, make_ctx, unique):
    pem = (shared_dir / "fixtures/cosign/cosign-keys/encrypted-sigstore-key.pem").read_text()
    pub_pem = load_private_key(pem, FIXTURE_PASSWORD).public_key()
    from kestra_dagster.tasks.cosign._cosign import public_pem

    repo = f"{registry.host}/signed/fixture-{unique}"
    built = Build(id="b", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:1"],
                  dockerfile=f"FROM {base_image}\nRUN echo {unique} > /id2\n").run(make_ctx("b"))
    Sign(id="s", type=Sign.kestra_type, image=f"{repo}:1", key=pem, password=FIXTURE_PASSWORD).run(make_ctx("s"))
    priv2, pub2 = generate_key_pair("two")
    second = Sign(id="s", type=Sign.kestra_type, image=f"{repo}:1", key=priv2, password="two").run(make_ctx("s"))
    assert second["layers"] == 2
    for pub in (public_pem(pub_pem), pub2):
        assert Verify(id="v", type=Verify.kestra_type, image=f"{repo}:1", publicKey=pub).run(make_ctx("v"))["verified"] == 1
    docker_daemon.images.remove(built["imageId"], force=True)


def test_keyless_without_cosign_binary_is_a_clear_error(registry, make_ctx, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    ctx = make_ctx("s")
    digest = "sha256:" + "0" * 64
    with pytest.raises(TaskFailed, match="cosign binary"):
        Sign(id="s", type=Sign.kestra_type, image=f"{registry.host}/x/y@{digest}", keyless=True).run(ctx)
