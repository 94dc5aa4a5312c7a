package io.pgmigrate.core.internal.sql;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.Waits;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;

/**
 * Changes one application table's definition (a trigger created or dropped) without stalling the application: one
 * table per transaction (holding one table's lock while waiting for another's could deadlock with an application that
 * takes them in the other order), each lock awaited with a short timeout and retried until a deadline, autovacuum
 * asked to yield meanwhile. A long transaction delays the change, not the application's writes behind the lock queue.
 */
public final class TableLocks {

    private static final Logger LOG = LoggerFactory.getLogger(TableLocks.class);

    /** How long one attempt waits for a table's lock; writers queue behind a waiting lock for at most this long. */
    public static final String LOCK_TIMEOUT = "200ms";

    private TableLocks() {
    }

    /**
     * Runs {@code work} in a transaction of its own with {@link #LOCK_TIMEOUT}, again after a lock timeout, until
     * {@code deadline} ({@link System#nanoTime()}); then fails naming the sessions that hold locks.
     *
     * @param database the database, for messages
     * @param where    the server as messages name it ("the source")
     * @param what     what {@code work} does, for the message ("install the fence on public.t")
     * @param code     the error code of that failure
     */
    public static void run(Connection c, long deadline, String database, String where, String what,
                           CoreErrorCode code, Queries.SqlWork work) throws SQLException {
        long pause = 20;
        while (true) {
            try {
                Queries.inTransaction(c, () -> {
                    Queries.execute(c, "SET LOCAL lock_timeout = " + literal(LOCK_TIMEOUT));
                    work.run();
                });
                return;
            } catch (SQLException e) {
                if (!"55P03".equals(e.getSQLState())) {
                    throw e;
                }
                if (System.nanoTime() > deadline) {
                    throw new PgMigrateException(code, database, "cannot " + what + " on " + where
                            + ": its lock stayed taken by " + lockHolders(c) + "; end those transactions and try again",
                            e);
                }
                LOG.debug("{}: a table lock is held; retrying to {}", database, what);
                yieldAutovacuum(c, database);
            }
            Waits.pause(pause, database);
            pause = Math.min(pause * 2, 500);
        }
    }

    private static String lockHolders(Connection c) throws SQLException {
        List<String> holders = Queries.list(c, """
                SELECT DISTINCT a.pid || ' (' || a.backend_type || coalesce(', ' || a.usename, '')
                       || coalesce(', ' || a.state, '') || coalesce(', transaction since ' || a.xact_start, '') || ')'
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.relation IS NOT NULL AND l.granted AND l.pid <> pg_backend_pid()
                """, rs -> rs.getString(1));
        return holders.isEmpty() ? "sessions that have ended since" : "sessions " + holders;
    }

    /**
     * Cancels autovacuum workers in the database, as the server itself does for a waiting lock after {@code
     * deadlock_timeout}; our lock timeout is shorter, so without this a vacuum of a busy table would outlast every
     * attempt. Anti-wraparound vacuums are left alone: they must finish.
     */
    private static void yieldAutovacuum(Connection c, String database) {
        try {
            Queries.list(c, """
                    SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'autovacuum worker'
                      AND query NOT LIKE '%to prevent wraparound%'
                    """, rs -> null);
        } catch (SQLException e) {
            // Without the right to signal autovacuum the lock timeout retries simply go on.
            LOG.debug("{}: cannot ask autovacuum to yield: {}", database, e.getMessage());
        }
    }
}
