"""Matrix for unimsg, on matrix-nio (asyncio only).

``MatrixAdapter`` speaks for one Matrix account; ``MatrixConfig`` holds its
settings. See docs/matrix.md.
"""

from ._adapter import MatrixAdapter
from ._config import InvitePolicy, MatrixConfig, TrustPolicy

__all__ = ["InvitePolicy", "MatrixAdapter", "MatrixConfig", "TrustPolicy"]
