package io.pgmigrate.core.internal.state;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Optional;

/**
 * One live process drives a migration at a time. The driver holds a session-level advisory lock on the source, on a
 * connection of its own that does nothing else, from its first changing call until {@code close()}; a second process
 * is refused with the holder's pid, host and start time. The lock ends with its session, so a process that crashed
 * or was killed releases it, and one that hung keeps it until its session is ended ({@code pg_terminate_backend}).
 * A process checks that it still holds the lock before every journal write and every step of a move: one that wakes
 * up after it lost the lock (its session was ended) stops without changing anything more.
 */
public final class Ownership implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Ownership.class);
    /** The advisory lock's first key: "pgmg". The second is {@code hashtext} of the migration's name. */
    private static final int LOCK_CLASS = 0x70676d67;
    /** How long a new driver waits for the lock: longer than a killed process's session takes to end. */
    private static final long HOLDER_GRACE_MILLIS = 5_000;

    private final Connector source;
    private final String database;
    private final String migration;
    private Connection session;

    /** @param database a database of the source the migration moves: the lock is per database of the server */
    public Ownership(Connector source, String database, String migration) {
        this.source = source;
        this.database = database;
        this.migration = migration;
    }

    /** Whether this process holds the lock, as far as it knows without asking the server. */
    public synchronized boolean held() {
        return session != null;
    }

    /**
     * Takes the lock, or confirms it is still held.
     *
     * @return true when it was taken now (the caller then reloads what another process may have written before)
     * @throws PgMigrateException {@link CoreErrorCode#MIGRATION_IN_USE} naming the holder when another process has it
     */
    public synchronized boolean acquire() {
        if (session != null) {
            if (alive()) {
                return false;
            }
            drop();
        }
        Connection c = source.connect(database);
        try {
            Queries.first(c, "SELECT set_config('application_name', ?, false)", rs -> rs.getString(1),
                    applicationName());
            // Over TCP the server ends the session, and so frees the lock, about a minute after this host vanishes
            // (crashed, powered off, cut off); a process that is merely hung keeps it. No effect over a socket file.
            Queries.execute(c, "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10;"
                    + " SET tcp_keepalives_count = 3");
            // Waits a little rather than trying once: the session of a process that was just killed ends a moment
            // after its socket closed, and a restarted driver must not be refused by its own ghost.
            boolean got;
            Queries.execute(c, "SET lock_timeout = '" + HOLDER_GRACE_MILLIS + "ms'");
            try {
                Queries.first(c, "SELECT pg_advisory_lock(?, hashtext(?))::text", rs -> rs.getString(1),
                        LOCK_CLASS, migration);
                got = true;
            } catch (SQLException e) {
                if (!"55P03".equals(e.getSQLState())) {
                    throw e;
                }
                got = false;
            }
            Queries.execute(c, "RESET lock_timeout");
            if (!got) {
                String holder = holder(c).orElse("a session that ended a moment ago; try again");
                Sessions.closeQuietly(c);
                throw new PgMigrateException(CoreErrorCode.MIGRATION_IN_USE, "migration " + migration + " is driven by"
                        + " another process: " + holder + ". One process drives a migration at a time; wait for it"
                        + " to finish, or stop it. If that process is gone but its session is not (a hung or"
                        + " partitioned host), end the session on the source with SELECT pg_terminate_backend(pid);"
                        + " nothing was changed");
            }
            session = c;
            LOG.debug("migration {}: this process drives it now", migration);
            return true;
        } catch (SQLException e) {
            Sessions.closeQuietly(c);
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "taking the migration's lock on"
                    + " the source failed", e);
        }
    }

    /**
     * Throws unless this process still holds the lock: called before every change, so a process that lost it (its
     * session was ended, a newer process took over) stops before it acts on a state it no longer knows.
     */
    public synchronized void check() {
        if (session == null) {
            throw new PgMigrateException(CoreErrorCode.INTERNAL, "migration " + migration + " changes its state without"
                    + " holding its lock; this is a bug");
        }
        if (!alive()) {
            drop();
            throw new PgMigrateException(CoreErrorCode.MIGRATION_IN_USE, "migration " + migration + ": this process lost"
                    + " its lock on the source (its session ended), so another process may drive the migration now;"
                    + " it stopped without changing anything more. Open the migration again to go on from what the"
                    + " state store holds");
        }
    }

    /** Whether the lock's session still answers: it holds the lock for as long as it lives. */
    private boolean alive() {
        try {
            return session.isValid(5);
        } catch (SQLException e) {
            return false;
        }
    }

    private Optional<String> holder(Connection c) throws SQLException {
        return Queries.first(c, """
                SELECT format('pid %s on the source (application_name %L, client %s, connected %s)', a.pid,
                              a.application_name, coalesce(host(a.client_addr), 'local socket'),
                              date_trunc('second', a.backend_start))
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ?::int::oid
                  AND l.objid = hashtext(?)::oid AND l.objsubid = 2 AND l.database = (
                      SELECT oid FROM pg_database WHERE datname = current_database())
                """, rs -> rs.getString(1), LOCK_CLASS, migration);
    }

    private static String applicationName() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            host = "unknown-host";
        }
        String name = "pgmigrate owner " + ProcessHandle.current().pid() + "@" + host;
        return name.length() > 63 ? name.substring(0, 63) : name;
    }

    private void drop() {
        Sessions.closeQuietly(session);
        session = null;
    }

    /** Releases the lock: its session ends. */
    @Override
    public synchronized void close() {
        if (session != null) {
            drop();
        }
    }
}
