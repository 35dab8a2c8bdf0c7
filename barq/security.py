"""Security schemes as dependencies, with the names and answers FastAPI apps use.

Each scheme is a callable object used with ``Depends``/``Security``: it reads
the credentials from the request and returns them, or answers ``401 Not
authenticated`` (with the ``WWW-Authenticate`` challenge of the scheme) when
they are missing and ``auto_error`` is true (``auto_error=False`` returns None
instead, for optional authentication). Each also describes itself for the
OpenAPI document (:attr:`SecurityBase.model`, under ``components.securitySchemes``
by :attr:`SecurityBase.scheme_name`), so Swagger UI shows "Authorize".

- API keys: :class:`APIKeyHeader`, :class:`APIKeyQuery`, :class:`APIKeyCookie`.
- HTTP: :class:`HTTPBasic` (→ :class:`HTTPBasicCredentials`), :class:`HTTPBearer`
  and :class:`HTTPDigest` (→ :class:`HTTPAuthorizationCredentials`).
- OAuth2: :class:`OAuth2PasswordBearer`, :class:`OAuth2AuthorizationCodeBearer`,
  :class:`OAuth2` (any flows), :class:`OpenIdConnect`; the login form
  :class:`OAuth2PasswordRequestForm` (and its ``Strict`` form); scopes with
  :func:`Security` and :class:`SecurityScopes`.

Checking the credentials (is the token valid, is the password right) is the
app's job, in a dependency that uses one of these.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Annotated, Any

from pydantic import BaseModel

from barq.exceptions import HTTPException
from barq.params import Form, Security
from barq.requests import Request

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "OpenIdConnect",
    "Security",
    "SecurityBase",
    "SecurityScopes",
    "get_authorization_scheme_param",
]


def get_authorization_scheme_param(value: str | None) -> tuple[str, str]:
    """``"Bearer abc"`` → ``("Bearer", "abc")``; ``("", "")`` for no header."""
    if not value:
        return "", ""
    scheme, _, param = value.partition(" ")
    return scheme, param.strip()


class SecurityBase:
    """What every scheme has: its OpenAPI security scheme object and its name there."""

    #: the OpenAPI Security Scheme Object (``{"type": "http", "scheme": "basic"}``...)
    model: dict[str, Any]
    #: the key under ``components.securitySchemes`` (the class name by default)
    scheme_name: str
    auto_error: bool

    def _describe(
        self, model: dict[str, Any], scheme_name: str | None, description: str | None
    ) -> None:
        if description:
            model["description"] = description
        self.model = model
        self.scheme_name = scheme_name or type(self).__name__

    def challenge(self) -> dict[str, str]:
        """The ``WWW-Authenticate`` header of a 401 from this scheme."""
        return {}

    def not_authenticated(self) -> HTTPException:
        """The error for missing or unusable credentials."""
        return HTTPException(401, "Not authenticated", headers=self.challenge())

    def _missing(self) -> None:
        if self.auto_error:
            raise self.not_authenticated()


# -- API keys -------------------------------------------------------------------


class _APIKey(SecurityBase):
    location = ""

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.name = name
        self.auto_error = auto_error
        self._describe(
            {"type": "apiKey", "in": self.location, "name": name}, scheme_name, description
        )

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": "APIKey"}

    def _check(self, value: str | None) -> str | None:
        if not value:
            self._missing()
            return None
        return value


class APIKeyHeader(_APIKey):
    """An API key in a request header (``APIKeyHeader(name="X-API-Key")``)."""

    location = "header"

    def __call__(self, request: Request) -> str | None:
        return self._check(request.headers.get(self.name))


class APIKeyQuery(_APIKey):
    """An API key in a query parameter (``APIKeyQuery(name="api_key")``)."""

    location = "query"

    def __call__(self, request: Request) -> str | None:
        return self._check(request.query_params.get(self.name))


class APIKeyCookie(_APIKey):
    """An API key in a cookie (``APIKeyCookie(name="session")``)."""

    location = "cookie"

    def __call__(self, request: Request) -> str | None:
        return self._check(request.cookies.get(self.name))


# -- HTTP authentication --------------------------------------------------------


class HTTPBasicCredentials(BaseModel):
    """What :class:`HTTPBasic` returns."""

    username: str
    password: str


class HTTPAuthorizationCredentials(BaseModel):
    """The scheme and credentials of an ``Authorization`` header."""

    scheme: str
    credentials: str


class HTTPBase(SecurityBase):
    """Any HTTP authentication scheme (``HTTPBase(scheme="negotiate")``): returns
    the header's scheme and credentials."""

    def __init__(
        self,
        *,
        scheme: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.auto_error = auto_error
        self._describe({"type": "http", "scheme": scheme}, scheme_name, description)

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": str(self.model["scheme"]).title()}

    def __call__(self, request: Request) -> Any:
        header = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(header)
        if not (scheme and credentials):
            self._missing()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


class HTTPBasic(HTTPBase):
    """HTTP Basic authentication: returns :class:`HTTPBasicCredentials`. ``realm``
    goes into the challenge (browsers show their login dialog for it)."""

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(
            scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error
        )
        self.realm = realm

    def challenge(self) -> dict[str, str]:
        if self.realm:
            return {"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        return {"WWW-Authenticate": "Basic"}

    def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        header = request.headers.get("authorization")
        scheme, param = get_authorization_scheme_param(header)
        if not header or scheme.lower() != "basic":
            self._missing()
            return None
        try:
            decoded = b64decode(param).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise self.not_authenticated() from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise self.not_authenticated()
        return HTTPBasicCredentials(username=username, password=password)


class HTTPBearer(HTTPBase):
    """A bearer token in ``Authorization: Bearer …``: returns
    :class:`HTTPAuthorizationCredentials`."""

    def __init__(
        self,
        *,
        bearerFormat: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(
            scheme="bearer", scheme_name=scheme_name, description=description, auto_error=auto_error
        )
        if bearerFormat:
            self.model["bearerFormat"] = bearerFormat

    def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        header = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(header)
        if not (scheme and credentials) or scheme.lower() != "bearer":
            self._missing()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


class HTTPDigest(HTTPBase):
    """HTTP Digest authentication: returns the header's
    :class:`HTTPAuthorizationCredentials` (checking the digest is the app's)."""

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(
            scheme="digest", scheme_name=scheme_name, description=description, auto_error=auto_error
        )

    def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        header = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(header)
        if not (scheme and credentials) or scheme.lower() != "digest":
            self._missing()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


# -- OAuth2 -----------------------------------------------------------------------


class OAuth2(SecurityBase):
    """OAuth2 with the flows given (an OpenAPI OAuth Flows Object): returns the
    whole ``Authorization`` header value."""

    def __init__(
        self,
        *,
        flows: dict[str, Any] | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.auto_error = auto_error
        flows = {k: _flow(v) for k, v in (flows or {}).items()}
        self._describe({"type": "oauth2", "flows": flows}, scheme_name, description)

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}

    def __call__(self, request: Request) -> str | None:
        header: str | None = request.headers.get("authorization")
        if not header:
            self._missing()
            return None
        return header

    def _bearer_token(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        scheme, token = get_authorization_scheme_param(header)
        if not header or scheme.lower() != "bearer":
            self._missing()
            return None
        return token


def _flow(flow: Any) -> dict[str, Any]:
    data = flow.model_dump(exclude_none=True) if isinstance(flow, BaseModel) else dict(flow)
    data.setdefault("scopes", {})
    return data


class OAuth2PasswordBearer(OAuth2):
    """The password flow: the client gets a token from ``tokenUrl`` (your login
    route, with :class:`OAuth2PasswordRequestForm`) and sends it as a bearer
    token; this returns the token."""

    def __init__(
        self,
        tokenUrl: str,
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        refreshUrl: str | None = None,
    ) -> None:
        flow: dict[str, Any] = {"tokenUrl": tokenUrl, "scopes": dict(scopes or {})}
        if refreshUrl:
            flow["refreshUrl"] = refreshUrl
        super().__init__(
            flows={"password": flow},
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    def __call__(self, request: Request) -> str | None:
        return self._bearer_token(request)


class OAuth2AuthorizationCodeBearer(OAuth2):
    """The authorization-code flow; returns the bearer token."""

    def __init__(
        self,
        authorizationUrl: str,
        tokenUrl: str,
        refreshUrl: str | None = None,
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        flow: dict[str, Any] = {
            "authorizationUrl": authorizationUrl,
            "tokenUrl": tokenUrl,
            "scopes": dict(scopes or {}),
        }
        if refreshUrl:
            flow["refreshUrl"] = refreshUrl
        super().__init__(
            flows={"authorizationCode": flow},
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    def __call__(self, request: Request) -> str | None:
        return self._bearer_token(request)


class OpenIdConnect(SecurityBase):
    """OpenID Connect discovery (``openIdConnectUrl``); returns the
    ``Authorization`` header value."""

    def __init__(
        self,
        *,
        openIdConnectUrl: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.auto_error = auto_error
        self._describe(
            {"type": "openIdConnect", "openIdConnectUrl": openIdConnectUrl},
            scheme_name,
            description,
        )

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}

    def __call__(self, request: Request) -> str | None:
        header: str | None = request.headers.get("authorization")
        if not header:
            self._missing()
            return None
        return header


class SecurityScopes:
    """Declare a parameter of this type in a dependency to get the scopes that the
    ``Security(..., scopes=[...])`` declarations above it require, all together."""

    def __init__(self, scopes: list[str] | None = None) -> None:
        #: the scopes required, in declaration order, without duplicates
        self.scopes: list[str] = list(scopes or [])
        #: the scopes separated by spaces (for a ``WWW-Authenticate`` header)
        self.scope_str: str = " ".join(self.scopes)

    def __repr__(self) -> str:
        return f"SecurityScopes({self.scopes!r})"


# -- the login form ---------------------------------------------------------------


class OAuth2PasswordRequestForm:
    """The OAuth2 password-flow login form, as a class dependency:
    ``form: Annotated[OAuth2PasswordRequestForm, Depends()]``. ``username`` and
    ``password`` are required; ``scope`` (space-separated) becomes ``scopes``.
    ``grant_type`` may be absent or ``"password"``."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """:class:`OAuth2PasswordRequestForm` where ``grant_type=password`` is required,
    as the OAuth2 specification says."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )
