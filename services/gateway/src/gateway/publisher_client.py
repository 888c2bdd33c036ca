"""The gateway's side of the request/reply exchange with the publisher (accounts, cancel)."""

import asyncio
from typing import TypeVar
from uuid import UUID

from faststream.nats import NatsBroker
from nats.errors import NoRespondersError
from pydantic import BaseModel

from aistudio_contracts import CancelPost, ListSocialAccounts, Message, PostCancelReply, SocialAccount, SocialAccounts

R = TypeVar("R", bound=BaseModel)
NO_RESPONDER_ATTEMPTS = 5


class PublisherUnavailable(Exception):
    """The publisher (or Late behind it) did not answer in time."""


class PublisherClient:
    def __init__(self, broker: NatsBroker, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def _ask(self, message: Message, reply_type: type[R]) -> R:
        for attempt in range(NO_RESPONDER_ATTEMPTS):
            try:
                response = await self._broker.request(message.to_json(), message.subject, timeout=self._timeout)
                return reply_type.model_validate_json(response.body)
            except NoRespondersError as exc:
                # No replica is subscribed this instant (one restarting): a moment later one usually is.
                if attempt + 1 == NO_RESPONDER_ATTEMPTS:
                    raise PublisherUnavailable("no publisher is running") from exc
                await asyncio.sleep(0.1 * 2**attempt)
            except Exception as exc:
                raise PublisherUnavailable(f"publisher did not answer: {exc!r}") from exc
        raise PublisherUnavailable("no publisher is running")

    async def accounts(self, user_id: str) -> list[SocialAccount]:
        return (await self._ask(ListSocialAccounts(user_id=user_id), SocialAccounts)).accounts

    async def cancel(self, post_id: UUID, user_id: str) -> PostCancelReply:
        return await self._ask(CancelPost(post_id=post_id, user_id=user_id), PostCancelReply)
