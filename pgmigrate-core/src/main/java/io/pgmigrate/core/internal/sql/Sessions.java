package io.pgmigrate.core.internal.sql;

import io.pgmigrate.Side;
import io.pgmigrate.core.internal.Mdc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Map;

/**
 * One open connection per side and database, reused across calls and re-opened when broken. Every connection opened
 * here carries the same extra startup options; the migration uses them to mark its sessions as its own, so its fences
 * let them through.
 */
public final class Sessions implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Sessions.class);

    private final Map<Side, Connector> connectors = new EnumMap<>(Side.class);
    private final Map<String, Held> open = new LinkedHashMap<>();
    private final String startupOptions;
    /** The network bound every shared connection has now, in milliseconds; 0: the endpoint's own. */
    private int boundMillis;

    /** @param startupOptions server settings for every connection, as {@code -c name=value ...} */
    public Sessions(Connector source, Connector target, String startupOptions) {
        connectors.put(Side.SOURCE, source);
        connectors.put(Side.TARGET, target);
        this.startupOptions = startupOptions;
    }

    public Connector connector(Side side) {
        return connectors.get(side);
    }

    /** The server settings every connection of the migration's own starts with (they may carry its session key). */
    public String startupOptions() {
        return startupOptions;
    }

    /**
     * The shared connection to {@code db} on {@code side}, checked with a round trip at most every two seconds and
     * replaced when broken, so a burst of statements (a cutover) costs no extra round trips.
     */
    public Connection get(Side side, String db) {
        String key = side + "\u0000" + db;
        Held held;
        synchronized (this) {
            held = open.get(key);
        }
        if (held != null && held.usable()) {
            return held.connection;
        }
        synchronized (this) {
            held = open.get(key);
            if (held != null && held.usable()) {
                return held.connection;
            }
            if (held != null) {
                closeQuietly(held.connection);
            }
            held = new Held(fresh(side, db));
            if (boundMillis > 0) {
                held.bound(boundMillis);
            }
            open.put(key, held);
            return held.connection;
        }
    }

    /**
     * Bounds every wait for the server on the shared connections, open now or opened until the returned handle is
     * closed, to {@code timeout}: a silent network then fails the statement instead of holding it until TCP gives
     * up, hours later (pgjdbc closes a connection whose wait ran out, and the next {@link #get} opens a new one).
     * Closing the handle restores each connection's own bound.
     */
    public synchronized Bound bounded(Duration timeout) {
        boundMillis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        open.values().forEach(h -> h.bound(boundMillis));
        return () -> {
            synchronized (Sessions.this) {
                boundMillis = 0;
                open.values().forEach(Held::unbound);
            }
        };
    }

    /** Gives a connection of the caller's own (not shared) the bound the shared ones have now, if any. */
    public void applyBound(Connection c) {
        int millis;
        synchronized (this) {
            millis = boundMillis;
        }
        if (millis > 0) {
            new Held(c).bound(millis);
        }
    }

    /** The handle {@link #bounded(Duration)} returns. */
    public interface Bound extends AutoCloseable {
        @Override
        void close();
    }

    /** A cached connection and when it was last known to work. */
    private static final class Held {
        private static final long RECHECK_NANOS = 2_000_000_000L;
        final Connection connection;
        volatile long checked = System.nanoTime();
        private int ownTimeoutMillis = -1;

        Held(Connection connection) {
            this.connection = connection;
        }

        void bound(int millis) {
            try {
                if (ownTimeoutMillis < 0) {
                    ownTimeoutMillis = connection.getNetworkTimeout();
                }
                connection.setNetworkTimeout(Runnable::run, ownTimeoutMillis == 0 ? millis
                        : Math.min(ownTimeoutMillis, millis));
            } catch (SQLException e) {
                LOG.debug("bounding a connection's network wait failed; it is broken and will be replaced", e);
            }
        }

        void unbound() {
            if (ownTimeoutMillis < 0) {
                return;
            }
            try {
                connection.setNetworkTimeout(Runnable::run, ownTimeoutMillis);
            } catch (SQLException e) {
                LOG.debug("restoring a connection's network wait failed; it is broken and will be replaced", e);
            }
            ownTimeoutMillis = -1;
        }

        boolean usable() {
            try {
                if (connection.isClosed()) {
                    return false;
                }
                long now = System.nanoTime();
                if (now - checked < RECHECK_NANOS) {
                    return true;
                }
                if (connection.isValid(2)) {
                    checked = now;
                    return true;
                }
                return false;
            } catch (SQLException e) {
                return false;
            }
        }
    }

    /** A new connection of the migration's own, not shared; the caller closes it. */
    public Connection fresh(Side side, String db) {
        try (Mdc.Scope onSide = Mdc.side(side)) { // the connector's retries log with it
            return connectors.get(side).connect(db, startupOptions);
        }
    }

    /**
     * A new connection for bulk COPY traffic: as {@link #fresh}, with pgjdbc sending up to 256 KiB per write instead of
     * 8 KiB, so a copy makes a few system calls per megabyte instead of a hundred.
     */
    public Connection freshForCopy(Side side, String db) {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            return connectors.get(side).connect(db, startupOptions, Map.of("maxSendBufferSize", "262144"));
        }
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
                closeQuietly(e.getValue().connection);
                return true;
            }
            return false;
        });
    }

    @Override
    public synchronized void close() {
        open.values().forEach(h -> closeQuietly(h.connection));
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
