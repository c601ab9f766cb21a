"""What the content of a weights file can be checked against.

torch.hub's rule (``load_state_dict_from_url(check_hash=True)``): the file name's
``-<hex>.`` segment is a prefix of the file's sha256. Two kinds of torchvision files escape it:

* names without a ``-<hex>`` segment (some quantized files: ``resnet18_fbgemm_16fa66dd.pth``).
  Their trailing ``_<hex>`` may well be a hash prefix too, but nothing documents it, so it is
  not checked: only the length (``Content-Length``) of a download is;
* names whose ``-<hex>`` segment is wrong (:data:`KNOWN_WRONG_NAMES`). Their content is
  accepted when its sha256 starts with the name's prefix *or* the corrected one, so that a
  correct file is never refused because of its name, and a tampered one still is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["HASH_REGEX", "KNOWN_WRONG_NAMES", "Expectation", "expectation", "sha256_of"]

#: torch.hub's pattern (``torch/hub.py``, the same from torch 1.9 to 2.14).
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")

#: Files whose name carries a wrong sha256 prefix → the prefix of their real sha256.
#: Source: pytorch/vision PR #8036 ("Fix hashes of efficientnet weights", in 0.16.1; issues
#: #7744, #8034, #8060, #8064, #8263, #8488 quote the real digests: e.g. the bytes of
#: ``efficientnet_b0_rwightman-3dd342df.pth`` hash to ``7f5810bc96def8f7…``). The file names of
#: efficientnet_b1 (IMAGENET1K_V1) and of the quantized googlenet, inception_v3 and
#: shufflenet_v2_x1_0 were corrected the same way before 0.16.0 (names differ between the
#: 0.15.2 and 0.16.2 wheels). The old names are what torchvision 0.13-0.15 (efficientnet
#: b0/b2-b7 also 0.16.0) load; the old URLs still serve the same bytes.
KNOWN_WRONG_NAMES: dict[str, str] = {
    "efficientnet_b0_rwightman-3dd342df.pth": "7f5810bc",
    "efficientnet_b1_rwightman-533bc792.pth": "bac287d4",
    "efficientnet_b2_rwightman-bcdf34b7.pth": "c35c1473",
    "efficientnet_b3_rwightman-cf984f9c.pth": "b3899882",
    "efficientnet_b4_rwightman-7eb33cd5.pth": "23ab8bcd",
    "efficientnet_b5_lukemelas-b6417697.pth": "1a07897c",
    "efficientnet_b6_lukemelas-c76e70fd.pth": "24a108a5",
    "efficientnet_b7_lukemelas-dcc49843.pth": "c5b4e57e",
    "googlenet_fbgemm-c00238cf.pth": "c81f6644",
    "inception_v3_google_fbgemm-71447a44.pth": "a2837893",
    "shufflenetv2_x1_fbgemm-db332c57.pth": "1e62bb32",
}


@dataclass(frozen=True)
class Expectation:
    """The sha256 prefixes a file's content may start with; none: it cannot be checked."""

    prefixes: tuple[str, ...]
    #: one sentence saying what is checked (for messages and ``verify_cache``).
    basis: str

    @property
    def checkable(self) -> bool:
        return bool(self.prefixes)

    def accepts(self, digest: str) -> bool:
        return any(digest.startswith(prefix) for prefix in self.prefixes)

    def describe(self) -> str:
        return " or ".join(f'"{p}"' for p in self.prefixes)


def expectation(filename: str) -> Expectation:
    """What the sha256 of the file named ``filename`` must start with."""
    corrected = KNOWN_WRONG_NAMES.get(filename)
    match = HASH_REGEX.search(filename)
    prefix = match.group(1) if match else ""
    if corrected is not None:
        return Expectation(
            (corrected, prefix),
            f"the name's hash prefix {prefix} is known to be wrong (pytorch/vision#8036); "
            f"the real one is {corrected}",
        )
    if prefix:
        return Expectation((prefix,), f"sha256 must start with {prefix}, from the name")
    return Expectation(
        (), "the name has no -<sha256 prefix> segment: only the length can be checked"
    )


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, read in chunks (memory does not grow with its size)."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as file:
        while True:
            n = file.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()
