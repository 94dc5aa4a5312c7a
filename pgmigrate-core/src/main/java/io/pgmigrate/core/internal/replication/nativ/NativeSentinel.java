package io.pgmigrate.core.internal.replication.nativ;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Lsn;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Sentinel;
import io.pgmigrate.Side;
import io.pgmigrate.core.internal.Waits;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.time.Duration;
import java.util.Optional;

/**
 * The sentinel of one NATIVE stream. The mark is a transactional {@code pg_logical_emit_message} committed with
 * {@code synchronous_commit = local}, which forces the publisher's WAL to disk up to its commit, including the commit
 * records of earlier asynchronous commits; the flushed position after it is the mark. (The write position alone is not
 * enough: with {@code synchronous_commit = off} it can trail commits that clients already saw succeed.)
 *
 * <p>The wait ends when the slot's {@code confirmed_flush_lsn} has passed the mark. The subscriber reports a position as
 * flushed only when every transaction before it is applied and its own WAL is flushed, which is the same guarantee
 * synchronous logical replication rests on. The subscription's origin progress cannot serve as the condition on its
 * own: the message is not published, and since PostgreSQL 15 pgoutput skips the otherwise empty transaction, so the
 * origin only reaches the last data commit before the mark. It is read and logged with the result, and the wait
 * fails at once when the subscription is disabled or its slot is gone instead of running into the timeout. While it
 * waits it nudges both sides (see {@link #nudge}); there is no fixed sleep. Once confirmed, it waits for the
 * subscriber's synchronous standbys too (see {@link #awaitSubscriberStandbys}).
 */
public final class NativeSentinel implements Sentinel {

    private static final Logger LOG = LoggerFactory.getLogger(NativeSentinel.class);

    /** The logical-decoding message prefix, so consumers can recognise and skip the marker. */
    public static final String PREFIX = "pgmigrate";

    private final Sessions sessions;
    private final Side publisher;
    private final String database;
    private final String slot;
    private final String subscription;

    public NativeSentinel(Sessions sessions, Side publisher, String database, String slot, String subscription) {
        this.sessions = sessions;
        this.publisher = publisher;
        this.database = database;
        this.slot = slot;
        this.subscription = subscription;
    }

    /** Emits the marker in the database {@code c} is connected to and returns the flushed WAL position. */
    public static Lsn emit(Connection c) throws SQLException {
        Queries.inTransaction(c, () -> {
            // local: flushed here, without waiting for a synchronous standby that might never answer
            Queries.execute(c, "SET LOCAL synchronous_commit = local");
            Queries.first(c, "SELECT pg_logical_emit_message(true, ?, 'sentinel')", rs -> null, PREFIX);
        });
        return Lsn.parse(Queries.string(c, "SELECT pg_current_wal_flush_lsn()::text"));
    }

    @Override
    public Lsn emit() {
        try {
            return emit(sessions.get(publisher, database));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "writing the sentinel on the "
                    + sessions.connector(publisher).role() + " failed", e);
        }
    }

    @Override
    public Lsn await(Lsn lsn, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        long pause = 1;
        Connection pub = sessions.get(publisher, database);
        Connection sub = sessions.get(publisher.other(), database);
        try {
            while (true) {
                Optional<Lsn> confirmed = Queries.first(pub, """
                        SELECT coalesce(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots WHERE slot_name = ?
                        """, rs -> Lsn.parse(rs.getString(1)), slot);
                if (confirmed.isEmpty()) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_OBJECT_LOST, database, "replication slot " + slot
                            + " is gone from the " + sessions.connector(publisher).role());
                }
                if (confirmed.get().isAtOrAfter(lsn)) {
                    LOG.debug("{}: sentinel {} applied; confirmed {}, origin progress {}", database, lsn, confirmed.get(),
                            originProgress(sub));
                    awaitSubscriberStandbys(sub, deadline, timeout);
                    return confirmed.get();
                }
                Optional<Boolean> enabled = Queries.first(sub, """
                        SELECT subenabled FROM pg_subscription
                        WHERE subname = ? AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                        """, rs -> rs.getBoolean(1), subscription);
                if (enabled.isEmpty() || !enabled.get()) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, "subscription " + subscription
                            + (enabled.isEmpty() ? " is missing" : " is disabled") + " on the "
                            + sessions.connector(publisher.other()).role() + ", so sentinel " + lsn
                            + " cannot arrive (confirmed " + confirmed.get() + ")");
                }
                if (System.nanoTime() > deadline) {
                    throw new PgMigrateException(CoreErrorCode.TIMEOUT, database, "the "
                            + sessions.connector(publisher.other()).role() + " did not apply sentinel " + lsn + " within "
                            + timeout + "; it has confirmed " + confirmed.get() + " (" + lsn.bytesAfter(confirmed.get())
                            + " bytes behind)");
                }
                Waits.pause(pause, database);
                pause = Math.min(pause * 2, 20);
                nudge(pub, sub);
            }
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "waiting for the sentinel failed", e);
        }
    }

    /**
     * Waits, after the sentinel was applied, until the subscriber's synchronous standbys (its
     * {@code synchronous_standby_names}) hold everything it applied: the apply worker commits with
     * {@code synchronous_commit = off}, so the sentinel proves a flush on the subscriber's primary only, and a failover
     * of the new primary right after the cutover would lose the last transactions while the old side is fenced (review
     * F18). One commit with {@code synchronous_commit = on} waits for the standbys through all WAL before it. Without
     * synchronous standbys it costs a local flush. Bounded by what is left of the wait's {@code timeout} (and inside
     * a cutover by its window).
     */
    private void awaitSubscriberStandbys(Connection sub, long deadline, Duration timeout) {
        String role = sessions.connector(publisher.other()).role();
        String standbys = "the " + role + "'s synchronous standbys (synchronous_standby_names)";
        int left = (int) Math.max(1, Math.min(Integer.MAX_VALUE, (deadline - System.nanoTime()) / 1_000_000));
        try {
            // What is left of the wait bounds the commit: a standby that never answers must not hold the caller.
            int own = sub.getNetworkTimeout();
            sub.setNetworkTimeout(Runnable::run, own == 0 ? left : Math.min(own, left));
            try {
                sub.clearWarnings();
                Queries.inTransaction(sub, () -> {
                    // A cancel of the waiting commit (pg_cancel_backend) ends the wait with a WARNING only and the
                    // commit reports success: any warning below counts as a failure.
                    Queries.execute(sub, "SET LOCAL synchronous_commit = on");
                    // A transaction waits for the standbys only when it wrote WAL of its own (an xid alone is not
                    // enough: RecordTransactionCommit's wrote_xlog); a transactional message writes one record.
                    Queries.first(sub, "SELECT pg_logical_emit_message(true, ?, 'standbys')", rs -> null, PREFIX);
                });
                SQLWarning w = sub.getWarnings();
                if (w != null) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, standbys + " may not"
                            + " hold what the stream applied: the wait for them ended with \"" + w.getMessage()
                            + "\"; check that they run and keep up, or clear synchronous_standby_names there");
                }
            } finally {
                if (!sub.isClosed()) {
                    sub.setNetworkTimeout(Runnable::run, own);
                }
            }
        } catch (SQLException e) {
            if (System.nanoTime() >= deadline) {
                throw new PgMigrateException(CoreErrorCode.TIMEOUT, database, standbys + " did not confirm what"
                        + " the stream applied within " + timeout + "; check that they run and keep up, or clear"
                        + " synchronous_standby_names there", e);
            }
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, standbys + " did not"
                    + " confirm what the stream applied; check that they run and keep up, or clear"
                    + " synchronous_standby_names there", e);
        }
    }

    /**
     * Shortens the wait from up to a second to milliseconds. The subscriber reports a position as flushed only once
     * its own WAL is flushed, and its apply worker asynchronously commits, so it may have answered the last keepalive
     * with an older position and then sleep for a second. A synchronous commit on the subscriber flushes its WAL; a
     * second marker on the publisher wakes the walsender, whose keepalive then gets an answer with the new position.
     */
    private static void nudge(Connection pub, Connection sub) throws SQLException {
        emit(sub);
        emit(pub);
    }

    private String originProgress(Connection sub) throws SQLException {
        return Queries.first(sub, """
                SELECT pg_replication_origin_progress('pg_' || s.oid, true)::text FROM pg_subscription s
                WHERE s.subname = ? AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, rs -> String.valueOf(rs.getString(1)), subscription).orElse("none");
    }
}
