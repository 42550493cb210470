"""Ed25519 signatures for model bundles (``cryptography``).

The signature covers the exact bytes of ``manifest.json``, which holds the model file's
sha256 and size, so one signature vouches for both. Keys are stored as hex: the private
key file is 32 raw bytes in hex (mode 0600), the public key 32 raw bytes in hex.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edge.bundle import MANIFEST_FILE, BundleError

logger = logging.getLogger(__name__)

SIGNATURE_FILE = "signature"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise BundleError("signature checks need the 'cryptography' package: "
                          "pip install 'digitcam[sign]'") from exc
    return ed25519, InvalidSignature


def keygen(private_path: Path, public_path: Path) -> str:
    ed25519, _ = _crypto()
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw).hex()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(raw.hex() + "\n")
    public_path.write_text(public + "\n")
    return public


def sign_bundle(bundle_dir: Path, private_path: Path) -> Path:
    ed25519, _ = _crypto()
    try:
        raw = bytes.fromhex(private_path.read_text().strip())
        key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    except (OSError, ValueError) as exc:
        raise BundleError(f"{private_path}: not a digitcam private key ({exc})") from exc
    signature = key.sign((bundle_dir / MANIFEST_FILE).read_bytes())
    path = bundle_dir / SIGNATURE_FILE
    path.write_text(signature.hex() + "\n")
    return path


def verify_signature(bundle_dir: Path, trusted_keys: list[str]) -> str:
    """The trusted key (hex) that signed the bundle, or BundleError."""
    ed25519, invalid = _crypto()
    path = bundle_dir / SIGNATURE_FILE
    if not path.exists():
        raise BundleError("the bundle is not signed (no 'signature' file); sign it with "
                          "`digitcam sign`, or set allow_unsigned = true for development")
    if not trusted_keys:
        raise BundleError("no trusted public keys are configured ([model] trusted_keys)")
    try:
        signature = bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise BundleError("the signature file is not hex") from exc
    message = (bundle_dir / MANIFEST_FILE).read_bytes()
    for key_hex in trusted_keys:
        try:
            key = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
        except ValueError:
            logger.warning("ignoring malformed trusted key %r", key_hex[:16])
            continue
        try:
            key.verify(signature, message)
            return key_hex
        except invalid:
            continue
    raise BundleError("wrong signature: the bundle is not signed by any trusted key")
