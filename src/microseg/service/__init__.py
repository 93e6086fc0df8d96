"""The HTTP service: an authenticated API over one workspace (docs/service.md).

``microseg serve`` runs it; :func:`create_app` builds the FastAPI app for a workspace the
caller opened; :class:`KeyRing` manages the API keys (``microseg keys``).
"""

from __future__ import annotations

from microseg.service._app import create_app, serve
from microseg.service._guard import ServiceSettings
from microseg.service._keys import SCOPES, ApiKey, KeyRing

__all__ = ["SCOPES", "ApiKey", "KeyRing", "ServiceSettings", "create_app", "serve"]
