"""cosign's key-based signatures, reimplemented to be byte-compatible with cosign on the registry.

* Keys: cosign's encrypted private key PEM (``ENCRYPTED SIGSTORE PRIVATE KEY`` / ``ENCRYPTED
  COSIGN PRIVATE KEY``: base64 JSON with scrypt KDF + nacl secretbox, plaintext PKCS#8 DER), or
  a plain PKCS#8 / SEC1 PEM (optionally password-protected). Public keys: PEM ``PUBLIC KEY``.
* Payload: the "simple signing" JSON, marshalled like Go's ``json.Marshal`` (compact, fixed
  field order, map keys sorted, ``<>&`` escaped) so cosign verifies what we sign and vice versa.
* Registry format (cosign's legacy/"tag" format, which ``cosign verify`` reads): tag
  ``sha256-<hex>.sig`` in the image's repository; an OCI manifest whose layers each hold one
  payload (``application/vnd.dev.cosign.simplesigning.v1+json``) with the base64 DER ECDSA
  signature in the ``dev.cosignproject.cosign/signature`` annotation. Signing again appends a layer.
* ``verify_signature_file`` reads containers/image's ``signature-N`` files (``\\x00sigstore-json`` +
  JSON), to check interoperability with real cosign-made signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from kestra_dagster.oci.client import OCI_MANIFEST, RegistryClient, attachment_tag, sha256_digest

SIMPLESIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
PAYLOAD_TYPE = "cosign container image signature"
ENCRYPTED_PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
SIGSTORE_JSON_PREFIX = b"\x00sigstore-json"
OCI_CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


class CosignError(ValueError):
    """A key, payload or signature is malformed, or a password is wrong."""


# ============================================================================ keys
def _pem_body(pem: str, types: tuple[str, ...]) -> bytes | None:
    for kind in types:
        begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
        if begin in pem:
            body = pem.split(begin, 1)[1].split(end, 1)[0]
            return base64.b64decode("".join(body.split()))
    return None


def _scrypt_key(password: bytes, kdf: dict) -> bytes:
    params = kdf.get("params") or {}
    n, r, p = int(params.get("N", 32768)), int(params.get("r", 8)), int(params.get("p", 1))
    salt = base64.b64decode(kdf["salt"])
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=128 * r * n * 2 + 1024 * 1024)


def load_private_key(pem: str | bytes, password: str | bytes | None = None):
    """A private key from cosign's encrypted PEM or a PKCS#8/SEC1 PEM."""
    import nacl.exceptions
    import nacl.secret

    text = pem.decode() if isinstance(pem, bytes) else str(pem)
    pw = password.encode() if isinstance(password, str) else (password or b"")
    blob = _pem_body(text, ENCRYPTED_PEM_TYPES)
    if blob is not None:
        try:
            doc = json.loads(blob)
            kdf, cipher = doc["kdf"], doc["cipher"]
        except (ValueError, KeyError) as exc:
            raise CosignError(f"not a cosign encrypted key: {exc}") from None
        if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
            raise CosignError(f"unsupported cosign key encryption {kdf.get('name')}/{cipher.get('name')}")
        key = _scrypt_key(pw, kdf)
        try:
            der = nacl.secret.SecretBox(key).decrypt(base64.b64decode(doc["ciphertext"]), base64.b64decode(cipher["nonce"]))
        except nacl.exceptions.CryptoError:
            raise CosignError("wrong password for the cosign private key (decryption failed)") from None
        return serialization.load_der_private_key(der, None)
    try:
        return serialization.load_pem_private_key(text.encode(), pw or None)
    except TypeError:
        raise CosignError("the private key is encrypted: a password is needed") from None
    except ValueError as exc:
        raise CosignError(f"cannot read the private key: {exc}") from None


def encrypt_private_key(private_key, password: str | bytes, n: int = 32768) -> str:
    """cosign's ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM for ``private_key``."""
    import os

    import nacl.secret

    pw = password.encode() if isinstance(password, str) else password
    salt, nonce = os.urandom(32), os.urandom(24)
    kdf = {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()}
    key = _scrypt_key(pw, kdf)
    der = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    sealed = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    doc = {"kdf": kdf, "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(sealed).decode()}
    body = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"


def public_pem(key) -> str:
    pub = key.public_key() if hasattr(key, "private_bytes") else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def generate_key_pair(password: str) -> tuple[str, str]:
    """(encrypted private key PEM, public key PEM), like ``cosign generate-key-pair``."""
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_private_key(key, password), public_pem(key)


def load_public_key(pem: str | bytes):
    text = pem.decode() if isinstance(pem, bytes) else str(pem)
    if "PRIVATE KEY" in text and "PUBLIC KEY" not in text:
        raise ValueError("expected a public key PEM, got a private key")
    try:
        return serialization.load_pem_public_key(text.strip().encode())
    except ValueError as exc:
        raise ValueError(f"cannot read the public key: {exc}") from None


# ============================================================================ payload
def _go_json(value: Any) -> str:
    """Go's json.Marshal for maps/strings: compact, sorted map keys, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def simple_signing_payload(docker_reference: str, digest: str, annotations: dict | None = None) -> bytes:
    critical = ('{"identity":{"docker-reference":' + _go_json(docker_reference) + '},'
                '"image":{"docker-manifest-digest":' + _go_json(digest) + '},'
                '"type":' + _go_json(PAYLOAD_TYPE) + '}')
    optional = _go_json({str(k): v for k, v in annotations.items()}) if annotations else "null"
    return ('{"critical":' + critical + ',"optional":' + optional + '}').encode()


def sign_bytes(private_key, data: bytes) -> bytes:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    raise CosignError(f"unsupported key type {type(private_key).__name__}")


def verify_bytes(public_key, data: bytes, signature: bytes) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def check_payload(payload: bytes, digest: str, required: dict | None = None) -> dict:
    """The parsed payload when it is a cosign signature claim for ``digest`` (else CosignError)."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        claimed = critical["image"]["docker-manifest-digest"]
        kind = critical["type"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CosignError(f"not a simple-signing payload: {exc}") from None
    if kind != PAYLOAD_TYPE:
        raise CosignError(f"payload type is {kind!r}, not {PAYLOAD_TYPE!r}")
    if claimed != digest:
        raise CosignError(f"payload signs {claimed}, not {digest}")
    optional = doc.get("optional") or {}
    for key, value in (required or {}).items():
        if str(optional.get(key)) != str(value):
            raise CosignError(f"annotation {key}={value!r} required, payload has {optional.get(key)!r}")
    return doc


@dataclass
class Claim:
    digest: str
    docker_reference: str
    annotations: dict
    signature: str
    layer_digest: str | None = None

    def as_dict(self) -> dict:
        return {"digest": self.digest, "dockerReference": self.docker_reference, "annotations": self.annotations,
                "signature": self.signature, "layerDigest": self.layer_digest}


def verify_claim(public_key, payload: bytes, signature_b64: str, digest: str, required: dict | None = None,
                 layer_digest: str | None = None) -> Claim | None:
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return None
    if not verify_bytes(public_key, payload, sig):
        return None
    try:
        doc = check_payload(payload, digest, required)
    except CosignError:
        return None
    return Claim(digest, doc["critical"].get("identity", {}).get("docker-reference", ""),
                 doc.get("optional") or {}, signature_b64, layer_digest)


# ============================================================================ containers/image files
def read_signature_file(data: bytes) -> dict:
    """A containers/image ``signature-N`` file → {mimeType, payload (bytes), annotations}."""
    if not data.startswith(SIGSTORE_JSON_PREFIX):
        raise CosignError("not a sigstore signature file (no \\x00sigstore-json prefix)")
    try:
        doc = json.loads(data[len(SIGSTORE_JSON_PREFIX):])
        return {"mimeType": doc["mimeType"], "payload": base64.b64decode(doc["payload"]),
                "annotations": doc.get("annotations") or {}}
    except (ValueError, KeyError) as exc:
        raise CosignError(f"malformed signature file: {exc}") from None


def verify_signature_file(manifest: bytes, signature_file: bytes, public_key) -> Claim:
    """Verify a cosign signature kept beside an image manifest; raises CosignError when invalid."""
    sig = read_signature_file(signature_file)
    if sig["mimeType"] != SIMPLESIGNING_TYPE:
        raise CosignError(f"not a cosign signature (mime type {sig['mimeType']})")
    signature = sig["annotations"].get(SIGNATURE_ANNOTATION)
    if not signature:
        raise CosignError("the signature annotation is missing")
    if not verify_bytes(public_key, sig["payload"], base64.b64decode(signature)):
        raise CosignError("signature verification failed for this key")
    doc = check_payload(sig["payload"], sha256_digest(manifest))
    return Claim(sha256_digest(manifest), doc["critical"].get("identity", {}).get("docker-reference", ""),
                 doc.get("optional") or {}, signature)


# ============================================================================ registry
def _config_for(layers: list[dict]) -> bytes:
    """go-containerregistry's empty image config with the layers' diff ids (what cosign pushes)."""
    config = {
        "architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"} for _ in layers],
        "os": "", "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        "config": {},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def existing_signature_layers(client: RegistryClient, repo: str, digest: str) -> list[dict]:
    tag = attachment_tag(digest, ".sig")
    if client.head_manifest(repo, tag) is None:
        return []
    doc = json.loads(client.get_manifest(repo, tag).raw)
    return [layer for layer in doc.get("layers") or [] if isinstance(layer, dict)]


def sign_image(client: RegistryClient, repo: str, digest: str, docker_reference: str, private_key,
               annotations: dict | None = None) -> dict:
    """Sign ``repo@digest`` and push the signature under ``sha256-<hex>.sig`` (appending a layer)."""
    payload = simple_signing_payload(docker_reference, digest, annotations)
    signature = base64.b64encode(sign_bytes(private_key, payload)).decode()
    payload_digest = sha256_digest(payload)
    if not client.blob_exists(repo, payload_digest):
        client.upload_blob(repo, payload_digest, payload)
    layers = [layer for layer in existing_signature_layers(client, repo, digest)
              if not (layer.get("digest") == payload_digest
                      and (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION) == signature)]
    layers.append({"mediaType": SIMPLESIGNING_TYPE, "size": len(payload), "digest": payload_digest,
                   "annotations": {SIGNATURE_ANNOTATION: signature}})
    config = _config_for(layers)
    config_digest = sha256_digest(config)
    if not client.blob_exists(repo, config_digest):
        client.upload_blob(repo, config_digest, config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG_TYPE, "size": len(config), "digest": config_digest},
                "layers": layers}
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    tag = attachment_tag(digest, ".sig")
    manifest_digest = client.put_manifest(repo, tag, raw, OCI_MANIFEST)
    return {"signatureTag": tag, "signatureManifestDigest": manifest_digest, "signature": signature,
            "payload": payload.decode(), "payloadDigest": payload_digest, "layers": len(layers)}


def verify_image_signatures(client: RegistryClient, repo: str, digest: str, public_key,
                            docker_reference: str | None = None, required: dict | None = None) -> list[Claim]:
    """Every signature on ``repo@digest`` that ``public_key`` verifies and that claims that digest."""
    valid: list[Claim] = []
    for layer in existing_signature_layers(client, repo, digest):
        if layer.get("mediaType") != SIMPLESIGNING_TYPE:
            continue
        signature = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        if not signature:
            continue
        payload = client.get_blob(repo, layer["digest"])
        claim = verify_claim(public_key, payload, signature, digest, required, layer["digest"])
        if claim is not None:
            valid.append(claim)
    return valid
