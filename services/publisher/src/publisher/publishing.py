"""What a worker does with a post it holds: create it at Late exactly once, resolve a create
whose answer was lost, follow the post to its end; and a user's cancel.

Nothing here creates a post at Late without the post being `creating` in Postgres first, and
nothing creates one again once a create may have left: an in-doubt post is looked up by its
`metadata.postId`, then asked for again with the same `x-request-id`, which Late answers with
the existing post (200, or a 409 from its content dedup naming it).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aistudio_contracts import (
    MediaType,
    PlatformResult,
    PostCancelReply,
    PostFailureReason,
    PostRequested,
    SocialAccount,
)
from aistudio_providers import ErrorKind
from aistudio_providers.late import Created, LateClient, LateError, LatePost, utc_z
from aistudio_runtime import get_logger
from aistudio_runtime.mediastore import MediaStore

from .domain.post import (
    CANCELLABLE_UNSENT,
    LATE_CANCELLABLE,
    CreateError,
    Doubt,
    Failure,
    PlatformView,
    PostState,
    RetryAt,
    after_create_error,
    failure_for,
    next_check_in,
    observe,
)
from .posts import Post, Posts
from .ratelimit import LateLimiter
from .settings import PublisherSettings

log = get_logger(__name__)

# A scheduled time this close (or past, after an outage) is posted now rather than scheduled.
SCHEDULE_MARGIN = timedelta(seconds=5)
MEDIA_MISSING_MESSAGE = "The media of this post is no longer in our storage, so it could not be posted."
MEDIA_TOO_LARGE_MESSAGE = "This media is larger than {platform} accepts."
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4", "video/webm": "webm"}


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_body(request: PostRequested, media_url: str, now: datetime) -> dict[str, Any]:
    """Late's create request. Without scheduledFor or publishNow Late silently makes a draft, so
    one of the two is always set."""
    platforms = []
    for target in request.targets:
        entry: dict[str, Any] = {"platform": target.platform, "accountId": target.account_id}
        if target.platform == "instagram":
            # These are AI media: Instagram's AI label applies.
            specific: dict[str, Any] = {"isAiGenerated": True}
            if target.story:
                specific["contentType"] = "story"
            entry["platformSpecificData"] = specific
        platforms.append(entry)
    only_stories = all(target.story for target in request.targets)
    body: dict[str, Any] = {
        "content": "" if only_stories else request.caption,
        "mediaItems": [{"type": request.media.media_type.value, "url": media_url}],
        "platforms": platforms,
        "timezone": "UTC",
        "metadata": {"postId": str(request.post_id), "mediaId": str(request.media_id), "userId": request.user_id},
    }
    if request.scheduled_for is not None and request.scheduled_for > now + SCHEDULE_MARGIN:
        body["scheduledFor"] = utc_z(request.scheduled_for)
    else:
        body["publishNow"] = True
    return body


def results_of(post: Post, late_post: LatePost) -> tuple[PlatformResult, ...]:
    """Late's platforms in our contract's terms, one per target account."""
    by_account = {p.account_id: p for p in late_post.platforms}
    results = []
    for target in post.request.targets:
        found = by_account.get(target.account_id)
        if found is None:
            results.append(PlatformResult(account_id=target.account_id, platform=target.platform, status="pending"))
            continue
        status = found.status if found.status in ("pending", "publishing", "published", "failed") else "pending"
        failure = failure_for(found.error_category, target.platform, found.error) if status == "failed" else None
        results.append(
            PlatformResult(
                account_id=target.account_id,
                platform=target.platform,
                status=status,
                url=found.url,
                platform_post_id=found.platform_post_id,
                error=failure.message if failure else None,
                reason=failure.reason if failure else None,
            )
        )
    return tuple(results)


def _views(late_post: LatePost) -> tuple[PlatformView, ...]:
    return tuple(
        PlatformView(p.account_id, p.platform, p.status, p.url, p.platform_post_id, p.error, p.error_category)
        for p in late_post.platforms
    )


class Publisher:
    def __init__(
        self,
        settings: PublisherSettings,
        posts: Posts,
        limiter: LateLimiter,
        late: Callable[[], LateClient],
        media: MediaStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._posts = posts
        self._limiter = limiter
        self._late = late
        self._media = media
        self._now = clock

    async def work(self, post: Post) -> None:
        if post.state is PostState.CLAIMED:
            await self._create(post)
        elif post.state is PostState.IN_DOUBT:
            await self._resolve(post)
        elif post.state in (PostState.FOLLOWING, PostState.PUBLISHED):
            await self._check(post)
        else:
            await self._posts.release(post, None)

    async def _slot(self, post: Post) -> bool:
        """A Late call may be made now; otherwise the post waits in the table for its turn."""
        wait = await self._limiter.book()
        if wait > 0:
            await self._posts.release(post, self._now() + timedelta(seconds=wait))
            return False
        return True

    # --- creating -------------------------------------------------------------------------

    async def _create(self, post: Post) -> None:
        wait = await self._limiter.account_wait(post.request.targets)
        if wait > 0:
            log.info("post_waits_for_account_limit", post_id=str(post.post_id), seconds=round(wait, 1))
            await self._posts.release(post, self._now() + timedelta(seconds=wait))
            return
        url = post.media_url
        if url is None:
            if not await self._slot(post):
                return
            try:
                url = await self._upload(post)
            except _MediaProblem as problem:
                await self._posts.fail(post, problem.failure)
                return
            except LateError as exc:
                await self._after_error(post, exc)
                return
            await self._posts.save_media_url(post, url)
        if not await self._slot(post):
            return
        body = create_body(post.request, url, self._now())
        if not await self._posts.start_create(post):
            return  # cancelled meanwhile
        try:
            created = await self._late().create_post(str(post.post_id), body, publish_now="publishNow" in body)
        except LateError as exc:
            await self._after_error(post, exc)
            return
        log.info(
            "late_post_created", post_id=str(post.post_id), late_post_id=created.post_id, existing=created.existing
        )
        await self._record(post, created)

    async def _upload(self, post: Post) -> str:
        media = post.request.media
        data = await self._media.get(media.storage_key)
        if data is None:
            raise _MediaProblem(Failure(_reason_media(), MEDIA_MISSING_MESSAGE))
        for target in post.request.targets:
            if target.platform != "instagram":
                continue
            limit = (
                self._settings.instagram_video_max_bytes
                if media.media_type is MediaType.VIDEO
                else self._settings.instagram_image_max_bytes
            )
            if len(data) > limit:
                raise _MediaProblem(Failure(_reason_media(), MEDIA_TOO_LARGE_MESSAGE.format(platform="Instagram")))
        extension = _EXTENSIONS.get(media.content_type, "bin")
        return await self._late().upload(data, media.content_type, f"{post.request.media_id}.{extension}")

    async def _after_error(self, post: Post, exc: LateError) -> None:
        if exc.http_status == 429:
            await self._limiter.cool_down(exc.retry_after or self._settings.create_backoff_seconds)
        outcome = after_create_error(
            CreateError(exc.kind, exc.message, exc.account_disconnected, exc.retry_after),
            attempts=post.attempts,
            max_attempts=self._settings.create_max_attempts,
            now=self._now(),
            backoff=self._settings.create_backoff_seconds * 2 ** min(post.attempts, 6),
            platform=post.request.targets[0].platform,
        )
        log.warning("late_call_failed", post_id=str(post.post_id), kind=exc.kind, error=str(exc))
        if isinstance(outcome, Doubt):
            await self._posts.doubt(post)
        elif isinstance(outcome, RetryAt):
            await self._posts.retry_at(post, outcome.at)
        else:
            await self._posts.fail(post, outcome)

    async def _record(self, post: Post, created: Created) -> None:
        late_post = created.post
        if late_post is None:  # a 409 named the post: read it
            try:
                late_post = await self._late().get_post(created.post_id)
            except LateError:
                late_post = LatePost(id=created.post_id, status="publishing", scheduled_for=None)
        platforms = results_of(post, late_post)
        now = self._now()
        next_check = next_check_in(
            late_post.status,
            0,
            scheduled_for=late_post.scheduled_for or post.request.scheduled_for,
            now=now,
            min_seconds=self._settings.poll_min_seconds,
            max_seconds=self._settings.poll_max_seconds,
        )
        scheduled = late_post.status in LATE_CANCELLABLE
        if not await self._posts.follow(post, late_post.id, late_post.status, platforms, next_check, scheduled):
            return
        await self._apply(post.post_id, late_post)

    # --- resolving a create in doubt -------------------------------------------------------

    async def _resolve(self, post: Post) -> None:
        if not await self._slot(post):
            return
        try:
            found = await self._late().find_by_metadata(str(post.post_id))
        except LateError as exc:
            log.warning("in_doubt_lookup_failed", post_id=str(post.post_id), error=str(exc))
            await self._posts.release(post, self._later(post))
            return
        if found is not None:
            log.info("in_doubt_post_found", post_id=str(post.post_id), late_post_id=found.id)
            await self._record(post, Created(found, found.id, existing=True))
            return
        if post.media_url is None or not await self._slot(post):
            await self._posts.release(post, self._later(post))
            return
        body = create_body(post.request, post.media_url, self._now())
        try:
            # The same request id: Late answers with the post if the first create made one.
            created = await self._late().create_post(str(post.post_id), body, publish_now="publishNow" in body)
        except LateError as exc:
            if exc.kind is ErrorKind.USER:
                await self._posts.fail(
                    post, failure_for("platform_rejected", post.request.targets[0].platform, exc.message)
                )
            else:
                await self._posts.release(post, self._later(post))
            return
        log.info("in_doubt_post_resolved", post_id=str(post.post_id), late_post_id=created.post_id)
        await self._record(post, created)

    def _later(self, post: Post) -> datetime:
        return self._now() + timedelta(
            seconds=min(self._settings.create_backoff_seconds * 2 ** min(post.checks, 5), 60)
        )

    # --- following ---------------------------------------------------------------------------

    async def _check(self, post: Post) -> None:
        if post.late_post_id is None or not await self._slot(post):
            return
        try:
            late_post = await self._late().get_post(post.late_post_id)
        except LateError as exc:
            log.warning("late_status_check_failed", post_id=str(post.post_id), error=str(exc))
            await self._posts.keep_following(post, post.late_status or "", post.platforms, self._later(post))
            return
        await self._apply(post.post_id, late_post)

    async def _apply(self, post_id: Any, late_post: LatePost) -> None:
        post = await self._posts.find(post_id)
        if post is None:
            return
        platforms = results_of(post, late_post)
        seen = observe(post.state, late_post.status, _views(late_post))
        if seen.to is None:
            if post.state is PostState.PUBLISHED:
                # Watched a while after publishing; nothing changed: stop looking.
                await self._posts.keep_following(post, late_post.status, platforms, None)
                return
            next_check = next_check_in(
                late_post.status,
                post.checks + 1,
                scheduled_for=late_post.scheduled_for,
                now=self._now(),
                min_seconds=self._settings.poll_min_seconds,
                max_seconds=self._settings.poll_max_seconds,
            )
            await self._posts.keep_following(post, late_post.status, platforms, next_check)
        elif seen.to in (PostState.PUBLISHED, PostState.PARTIAL):
            if await self._posts.published(post, seen.to is PostState.PARTIAL, platforms):
                log.info("post_published", post_id=str(post.post_id), status=seen.to.value)
        elif seen.to is PostState.FAILED:
            assert seen.failure is not None
            if await self._posts.fail(post, seen.failure, platforms):
                log.info("post_failed", post_id=str(post.post_id), reason=seen.failure.reason.value)
        elif seen.to is PostState.CANCELLED:
            await self._posts.cancelled_at_late(post)

    async def webhook(self, late_post_id: str) -> None:
        """Late says the post changed: a hint, checked against Late before anything moves."""
        await self._posts.check_now(late_post_id)

    # --- the user's requests -----------------------------------------------------------------

    async def cancel(self, post_id: Any, user_id: str) -> PostCancelReply:
        post = await self._posts.find(post_id)
        if post is None or post.user_id != user_id:
            return PostCancelReply(outcome="not_found")
        if post.state in CANCELLABLE_UNSENT and await self._posts.cancel_unsent(post):
            return PostCancelReply(outcome="cancelled", status="cancelled")
        post = await self._posts.find(post_id) or post
        if post.state is PostState.CANCELLED:
            return PostCancelReply(outcome="cancelled", status="cancelled")
        if post.state in (PostState.PUBLISHED, PostState.PARTIAL, PostState.FAILED):
            return PostCancelReply(outcome="conflict", status=post.state.value, message="The post has already ended.")
        if (
            post.state is not PostState.FOLLOWING
            or post.late_post_id is None
            or post.late_status not in LATE_CANCELLABLE
        ):
            return PostCancelReply(outcome="conflict", status="publishing", message="The post is being published.")
        try:
            await self._late().delete_post(post.late_post_id)
        except LateError as exc:
            if exc.kind is ErrorKind.USER:
                await self._posts.check_now(post.late_post_id)
                return PostCancelReply(outcome="conflict", status="publishing", message="The post is being published.")
            return PostCancelReply(outcome="unavailable", message="Late did not answer; please try again.")
        if await self._posts.cancelled_at_late(post):
            return PostCancelReply(outcome="cancelled", status="cancelled")
        latest = await self._posts.find(post_id)
        if latest is not None and latest.state is PostState.CANCELLED:
            return PostCancelReply(outcome="cancelled", status="cancelled")
        return PostCancelReply(outcome="conflict", status="publishing", message="The post is being published.")

    async def accounts(self) -> list[SocialAccount]:
        found = await self._late().accounts()
        return [
            SocialAccount(
                id=a.id,
                platform=a.platform,
                username=a.username,
                display_name=a.display_name,
                needs_reconnection=a.needs_reconnection or not a.is_active,
            )
            for a in found
        ]


class _MediaProblem(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(failure.message)


def _reason_media() -> PostFailureReason:
    return PostFailureReason.MEDIA_INVALID
