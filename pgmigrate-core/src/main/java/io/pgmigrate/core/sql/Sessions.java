package io.pgmigrate.core.sql;

import io.pgmigrate.Side;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One open connection per side and database, reused across calls and re-opened when broken. Every new connection is
 * first handed to an initialiser (the cutover uses it to mark the session as the migration's own, so fences let it
 * through).
 */
public final class Sessions implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Sessions.class);

    private final Map<Side, Connector> connectors = new EnumMap<>(Side.class);
    private final Map<String, Connection> open = new LinkedHashMap<>();
    private final SessionInit init;

    /** Prepares a newly opened connection. */
    @FunctionalInterface
    public interface SessionInit {
        void prepare(Connection c) throws SQLException;
    }

    public Sessions(Connector source, Connector target, SessionInit init) {
        connectors.put(Side.SOURCE, source);
        connectors.put(Side.TARGET, target);
        this.init = init;
    }

    public Connector connector(Side side) {
        return connectors.get(side);
    }

    /** The shared connection to {@code db} on {@code side}. */
    public synchronized Connection get(Side side, String db) {
        String key = side + "\u0000" + db;
        Connection c = open.get(key);
        try {
            if (c != null && c.isValid(2)) {
                return c;
            }
        } catch (SQLException e) {
            // fall through and reconnect
        }
        closeQuietly(c);
        c = fresh(side, db);
        open.put(key, c);
        return c;
    }

    /** A new connection of the migration's own, not shared; the caller closes it. */
    public Connection fresh(Side side, String db) {
        Connection c = connectors.get(side).connect(db);
        try {
            init.prepare(c);
        } catch (SQLException e) {
            closeQuietly(c);
            throw io.pgmigrate.PgMigrateException.fromSql(io.pgmigrate.ErrorCode.CONNECTION_FAILED, db,
                    "preparing a session on the " + connectors.get(side).role() + " failed", e);
        }
        return c;
    }

    public Connection source(String db) {
        return get(Side.SOURCE, db);
    }

    public Connection target(String db) {
        return get(Side.TARGET, db);
    }

    /** Closes the connections to {@code db} on both sides, so the next use reconnects. */
    public synchronized void forget(String db) {
        open.entrySet().removeIf(e -> {
            if (e.getKey().endsWith("\u0000" + db)) {
                closeQuietly(e.getValue());
                return true;
            }
            return false;
        });
    }

    @Override
    public synchronized void close() {
        open.values().forEach(Sessions::closeQuietly);
        open.clear();
    }

    /** Closes {@code c}, logging instead of throwing. */
    public static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                LOG.debug("closing a connection failed", e);
            }
        }
    }
}
