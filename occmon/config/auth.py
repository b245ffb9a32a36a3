"""The ``auth:`` section: API keys with a role and the sites they may see.

A key is never written in the config: give its SHA-256 (``sha256``) or the name of an
environment variable that holds it (``env``). Without an ``auth:`` section every non-public
endpoint answers 401: there is no default key outside the demo config.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Role = Literal["officer", "staff", "inspector", "worker"]


class ApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug = Field(description="who holds the key; shown in the access log")
    role: Role
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    sites: list[Slug] | None = Field(
        default=None, description="sites the key may see; required for inspectors"
    )
    employee: Slug | None = Field(
        default=None, description="worker keys: the employee number whose own file it reads"
    )

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKey:
        if (self.sha256 is None) == (self.env is None):
            raise ValueError("give exactly one of 'sha256' (hex digest) or 'env' (variable name)")
        if self.role == "inspector" and not self.sites:
            raise ValueError("an inspector key needs 'sites': the sites it may see")
        if (self.role == "worker") != (self.employee is not None):
            raise ValueError("'employee' binds a worker key to its own file: give it for "
                             "role worker, and only for role worker")
        return self


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    header: str = "X-API-Key"
    keys: list[ApiKey] = Field(default_factory=list)
