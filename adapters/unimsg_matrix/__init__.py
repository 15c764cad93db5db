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
from ._verification_types import SasVerification, VerificationPolicy

__all__ = [
    "CAPABILITIES",
    "CrossSigningError",
    "InvitePolicy",
    "KeyBackupTrustError",
    "MatrixAdapter",
    "MatrixConfig",
    "RecoveryKeyError",
    "RecoveryKeyRequiredError",
    "SasVerification",
    "SecretStorageError",
    "TrustPolicy",
    "VerificationPolicy",
]
