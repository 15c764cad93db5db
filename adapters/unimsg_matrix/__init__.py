"""Matrix for unimsg, on matrix-nio (asyncio only).

``MatrixAdapter`` speaks for one Matrix account; ``MatrixConfig`` holds its
settings. See docs/matrix.md.
"""

from ._adapter import CAPABILITIES, MatrixAdapter
from ._config import InvitePolicy, MatrixConfig, TrustPolicy
from ._crypto_errors import (
    CrossSigningError,
    KeyBackupTrustError,
    RecoveryKeyError,
    RecoveryKeyRequiredError,
    SecretStorageError,
)

__all__ = [
    "CAPABILITIES",
    "CrossSigningError",
    "InvitePolicy",
    "KeyBackupTrustError",
    "MatrixAdapter",
    "MatrixConfig",
    "RecoveryKeyError",
    "RecoveryKeyRequiredError",
    "SecretStorageError",
    "TrustPolicy",
]
