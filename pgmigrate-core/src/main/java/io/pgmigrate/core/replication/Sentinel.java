package io.pgmigrate.core.replication;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Marks a point in the source's WAL that every transaction committed before the call lies behind, and that a
 * subscriber will report as flushed once it has applied everything up to it. A transactional
 * {@code pg_logical_emit_message} committed with {@code synchronous_commit = on} forces the WAL to disk up to its
 * commit, including the commit records of earlier asynchronous commits; the flushed position after it is the mark.
 * (The server's write position alone is not enough: with {@code synchronous_commit = off} it can trail commits that
 * clients already saw succeed.)
 */
public final class Sentinel {

    /** The logical-decoding message prefix, so consumers can recognise and skip the marker. */
    public static final String PREFIX = "pgmigrate";

    private Sentinel() {
    }

    /** Emits the marker in the database {@code source} is connected to and returns the flushed WAL position. */
    public static Lsn emit(Connection source) throws SQLException {
        boolean auto = source.getAutoCommit();
        source.setAutoCommit(false);
        try {
            Queries.execute(source, "SET LOCAL synchronous_commit = on");
            Queries.first(source, "SELECT pg_logical_emit_message(true, ?, 'sync')", rs -> null, PREFIX);
            source.commit();
        } catch (SQLException | RuntimeException e) {
            source.rollback();
            throw e;
        } finally {
            source.setAutoCommit(auto);
        }
        return Lsn.parse(Queries.string(source, "SELECT pg_current_wal_flush_lsn()::text"));
    }
}
