"""The registry server: a FastAPI app over `LocalRegistry`, with API-key auth.

Example:
    ```python
    from prefect_artifacts._server import create_app
    app = create_app(LocalRegistry.embedded())   # serve with uvicorn
    ```
"""

from prefect_artifacts._server.app import create_app
from prefect_artifacts._server.auth import ApiKeyAuth, Authenticator, NoAuth
from prefect_artifacts._server.state import Limits

__all__ = ["ApiKeyAuth", "Authenticator", "Limits", "NoAuth", "create_app"]
