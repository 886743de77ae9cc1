"""HTTP validators and the last feed body per source (so a 304 can be evaluated again)."""

from __future__ import annotations

import zlib

from statuswatch.sources.http import Validators
from statuswatch.store.backend import Backend
from statuswatch.store.records import FeedCache
from statuswatch.store.sql import Sql


def write_feed_cache(db: Sql, source: str, feed: FeedCache) -> None:
    """Called inside the poll's transaction, after its source_state row exists."""
    compressed = None if feed.body is None else zlib.compress(feed.body, 6)
    db.execute(
        "UPDATE source_state SET etag = ?, last_modified = ?, body_hash = ?, body = ?"
        " WHERE source = ?",
        (feed.validators.etag, feed.validators.last_modified, feed.body_hash, compressed, source),
    )


class ValidatorsMixin(Backend):
    def load_feed_cache(self, source: str) -> FeedCache:
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
        return FeedCache(
            validators=Validators(etag=etag, last_modified=last_modified),
            body_hash=digest,
            body=None if body is None else zlib.decompress(bytes(body)),
        )

    def forget_validators(self, source: str) -> None:
        """After a stored body turned out unusable: make the next fetch unconditional."""
        with self.transaction() as db:
            db.execute(
                "UPDATE source_state SET etag = NULL, last_modified = NULL, body_hash = NULL,"
                " body = NULL WHERE source = ?",
                (source,),
            )
