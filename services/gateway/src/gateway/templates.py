"""A user's own prompt templates in `gateway.prompt_templates`; the built-in library is code.

The one writer of that table. At most MAX_PER_USER templates per user, counted under a lock on
the user (a transaction-scoped advisory lock), so two saves racing at 49 never make 51.
"""

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from aistudio_contracts import MediaType

from .domain.requests import InvalidRequest, Issue
from .domain.templates import BUILT_IN, MAX_PER_USER, MissingVariables, Template, render


class TooManyTemplates(Exception):
    pass


def _own(row: asyncpg.Record) -> Template:
    return Template(str(row["id"]), row["name"], MediaType(row["type"]), row["prompt"], "me")


class Templates:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list(self, user_id: str) -> list[Template]:
        rows = await self._pool.fetch(
            "SELECT id, name, type, prompt FROM gateway.prompt_templates WHERE user_id = $1 ORDER BY created_at, id",
            user_id,
        )
        return [*BUILT_IN.values(), *(_own(row) for row in rows)]

    async def find(self, user_id: str, template_id: str) -> Template | None:
        if template_id in BUILT_IN:
            return BUILT_IN[template_id]
        try:
            parsed = UUID(template_id)
        except ValueError:
            return None
        row = await self._pool.fetchrow(
            "SELECT id, name, type, prompt FROM gateway.prompt_templates WHERE id = $1 AND user_id = $2",
            parsed,
            user_id,
        )
        return _own(row) if row else None

    async def save(self, user_id: str, name: str, media_type: MediaType, prompt: str) -> Template:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('prompt_templates:' || $1))", user_id)
            count = await conn.fetchval("SELECT count(*) FROM gateway.prompt_templates WHERE user_id = $1", user_id)
            if count >= MAX_PER_USER:
                raise TooManyTemplates()
            row = await conn.fetchrow(
                "INSERT INTO gateway.prompt_templates (id, user_id, name, type, prompt) VALUES ($1, $2, $3, $4, $5)"
                " RETURNING id, name, type, prompt",
                uuid4(),
                user_id,
                name,
                media_type.value,
                prompt,
            )
            return _own(row)

    async def delete(self, user_id: str, template_id: str) -> bool:
        """Only the user's own: a built-in or another user's template is not theirs to remove."""
        try:
            parsed = UUID(template_id)
        except ValueError:
            return False
        deleted = await self._pool.fetchval(
            "DELETE FROM gateway.prompt_templates WHERE id = $1 AND user_id = $2 RETURNING true", parsed, user_id
        )
        return bool(deleted)

    async def fill_in(self, user_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """A generate body naming `templateId` becomes one with the template's prompt filled in
        (and the template's id); a body without one is returned as it is."""
        template_id = body.get("templateId")
        if template_id in (None, ""):
            return body, None
        if not isinstance(template_id, str):
            raise InvalidRequest([Issue(("templateId",), "Template id must be a string")])
        if body.get("prompt") not in (None, ""):
            raise InvalidRequest([Issue(("prompt",), "Give either a prompt or a templateId, not both")])
        template = await self.find(user_id, template_id)
        if template is None:
            raise InvalidRequest([Issue(("templateId",), "Template not found")])
        values = body.get("variables") or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise InvalidRequest([Issue(("variables",), "Variables must be an object of strings")])
        try:
            prompt = render(template, values)
        except MissingVariables as missing:
            issue = Issue(("variables",), f"Missing variables: {', '.join(missing.names)}")
            raise InvalidRequest([issue]) from None
        return {**body, "prompt": prompt, "type": body.get("type") or template.type.value}, template.id
