"""HTTP validators and the last feed body per source (so a 304 can be evaluated again)."""

from __future__ import annotations

import zlib

from statuswatch.sources.http import Validators
from statuswatch.store.backend import UNDECODABLE, Backend
from statuswatch.store.records import FeedCache, body_hash
from statuswatch.store.sql import Sql


def write_feed_cache(db: Sql, source: str, feed: FeedCache) -> None:
    """Called inside the poll's transaction, after its source_state row exists."""
    # The body as fetched: compressing it cost more CPU than the rest of the write (55 us
    # for an 8 KB feed, which changes a few times a day), to save 7 KB in one row.
    db.execute(
        "UPDATE source_state SET etag = ?, last_modified = ?, body_hash = ?, body = ?"
        " WHERE source = ?",
        (feed.validators.etag, feed.validators.last_modified, feed.body_hash, feed.body, source),
    )


def stored_body(stored: bytes, digest: str | None) -> bytes:
    """The body of a row, checked against its hash: kept as fetched, or zlib-compressed
    as statuswatch 0.1 stored it. A row that is neither is undecodable (ValueError)."""
    if digest is not None and body_hash(stored) == digest:
        return stored
    try:
        body = zlib.decompress(stored)
    except zlib.error:
        raise ValueError("neither the body its hash names nor a compressed one") from None
    if digest is not None and body_hash(body) != digest:
        raise ValueError("the body does not match its hash")
    return body


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
                body=None if body is None else stored_body(bytes(body), digest),
            )
        except UNDECODABLE as error:
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
