"""Matrix for unimsg, on matrix-nio (asyncio only).

``MatrixAdapter`` speaks for one Matrix account; ``MatrixConfig`` holds its
settings. See docs/matrix.md.
"""

from ._adapter import MatrixAdapter
from ._config import InvitePolicy, MatrixConfig, MatrixSettings, TrustPolicy
from ._crypto_errors import (
    CrossSigningError,
    KeyBackupTrustError,
    RecoveryKeyError,
    RecoveryKeyRequiredError,
    SecretStorageError,
)
from ._verification_types import SasVerification, VerificationPolicy

__all__ = [
    "CrossSigningError",
    "InvitePolicy",
    "KeyBackupTrustError",
    "MatrixAdapter",
    "MatrixConfig",
    "MatrixSettings",
    "RecoveryKeyError",
    "RecoveryKeyRequiredError",
    "SasVerification",
    "SecretStorageError",
    "TrustPolicy",
    "VerificationPolicy",
]
