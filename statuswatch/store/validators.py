"""HTTP validators and the last feed body per source (so a 304 can be evaluated again)."""

from __future__ import annotations

import zlib

from statuswatch.sources.http import Validators
from statuswatch.store.backend import UNDECODABLE, Backend
from statuswatch.store.records import FeedCache
from statuswatch.store.sql import Sql


def write_feed_cache(db: Sql, source: str, feed: FeedCache) -> None:
    """Called inside the poll's transaction, after its source_state row exists."""
    # Level 1: a third of the CPU of the default for a body a few % larger.
    compressed = None if feed.body is None else zlib.compress(feed.body, 1)
    db.execute(
        "UPDATE source_state SET etag = ?, last_modified = ?, body_hash = ?, body = ?"
        " WHERE source = ?",
        (feed.validators.etag, feed.validators.last_modified, feed.body_hash, compressed, source),
    )


class ValidatorsMixin(Backend):
    def load_feed_cache(self, source: str) -> FeedCache:
        counter = self.change_counter()
        remembered = self._memo.get(("feed", source))
        if remembered is not None and remembered[0] == counter:
            return remembered[1]  # type: ignore[return-value]
        row = (
            self._reader()
            .execute(
                "SELECT etag, last_modified, body_hash, body FROM source_state WHERE source = ?",
                (source,),
            )
            .fetchone()
        )
        if row is None:
            return FeedCache()
        etag, last_modified, digest, body = row
        try:
            feed = FeedCache(
                validators=Validators(etag=etag, last_modified=last_modified),
                body_hash=digest,
                body=None if body is None else zlib.decompress(bytes(body)),
            )
        except (zlib.error, *UNDECODABLE) as error:
            # No validators: the next fetch is unconditional and its answer replaces the row.
            self._undecodable(f"the stored feed body of source {source}", error)
            return FeedCache()
        if counter is not None:
            self._memo[("feed", source)] = (counter, feed)
        return feed

    def forget_validators(self, source: str) -> None:
        """After a stored body turned out unusable: make the next fetch unconditional."""
        with self.transaction() as db:
            db.execute(
                "UPDATE source_state SET etag = NULL, last_modified = NULL, body_hash = NULL,"
                " body = NULL WHERE source = ?",
                (source,),
            )
