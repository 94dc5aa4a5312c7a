package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The STREAM engine's workers this process runs: at most one per link, started and stopped through the links
 * ({@link StreamLink#enable}, {@link StreamLink#disable}). A stream runs in the process that drives the migration; a
 * process that ends takes its workers with it, and the journal says which links are to run, so the next driver starts
 * them again from the target's committed position.
 */
public final class StreamWorkers implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StreamWorkers.class);

    /** Status updates at least this often, and more often when the publisher's {@code wal_sender_timeout} is short. */
    private static final Duration MAX_STATUS_INTERVAL = Duration.ofSeconds(10);

    private final Sessions sessions;
    private final int connections;
    private final Runnable mayApply;
    private final Map<String, StreamWorker> running = new ConcurrentHashMap<>();

    /**
     * @param sessions    the migration's sessions: their connectors reach both sides, their start-up options (the
     *                    session key that lets the migration's own sessions through its fences) go on every applying
     *                    session
     * @param connections how many target connections each worker applies on
     * @param mayApply    runs before each of a worker's rounds and throws when this process may no longer apply (it
     *                    lost the migration's lock): the worker then stops
     */
    public StreamWorkers(Sessions sessions, int connections, Runnable mayApply) {
        this.mayApply = mayApply;
        if (connections < 1) {
            throw new IllegalArgumentException("connections must be at least 1, not " + connections);
        }
        this.sessions = sessions;
        this.connections = connections;
    }

    /** The worker of {@code link} this process runs, if any (its thread may have ended after a failed stop). */
    public Optional<StreamWorker> running(StreamLink link) {
        return Optional.ofNullable(running.get(link.key()));
    }

    /** Starts {@code link}'s worker unless this process runs it already. */
    synchronized void start(StreamLink link, boolean originNone) throws SQLException {
        StreamWorker w = running.get(link.key());
        if (w != null && !w.closing()) {
            return;
        }
        if (w != null && !w.stopped()) {
            throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, link.database(), "the last stream of this"
                    + " process from the " + sessions.connector(link.publisher()).role() + " was stopped but has not"
                    + " ended yet; try again in a moment");
        }
        Side publisher = link.publisher();
        StreamWorker.Settings settings;
        // A session of its own: a copy's thread may enable a stream while the caller's thread uses the shared ones.
        try (Connection pub = sessions.fresh(publisher, link.database())) {
            int major = pub.getMetaData().getDatabaseMajorVersion();
            settings = new StreamWorker.Settings(link.database(), link.slot(), link.origin(), link.progressTable(),
                    new LogicalStream.Options(link.publication(), major, originNone), statusInterval(pub),
                    connections).withSessionOptions(sessions.startupOptions()).withLoopOrigin(link.loopOrigin());
        }
        running.put(link.key(), StreamWorker.start(sessions.connector(publisher), sessions.connector(publisher.other()),
                settings, mayApply));
        LOG.info("{}: started the stream from the {} to the {} on {} connection(s)", link.database(),
                sessions.connector(publisher).role(), sessions.connector(publisher.other()).role(), connections);
    }

    /**
     * Stops {@code link}'s worker, if this process runs one: complete source transactions are committed first. A
     * worker whose thread does not end stays listed, so {@link StreamLink#awaitStopped} refuses to go on.
     */
    synchronized void stop(StreamLink link) {
        StreamWorker w = running.get(link.key());
        if (w == null) {
            return;
        }
        w.close();
        if (w.stopped()) {
            running.remove(link.key());
            LOG.info("{}: stopped the stream from the {}", link.database(),
                    sessions.connector(link.publisher()).role());
        }
    }

    /** A third of the publisher's {@code wal_sender_timeout}, at most {@link #MAX_STATUS_INTERVAL}. */
    private static Duration statusInterval(Connection publisher) throws SQLException {
        long timeout = Long.parseLong(Queries.string(publisher,
                "SELECT setting FROM pg_settings WHERE name = 'wal_sender_timeout'"));
        if (timeout <= 0) {
            return MAX_STATUS_INTERVAL;
        }
        return Duration.ofMillis(Math.max(100, Math.min(MAX_STATUS_INTERVAL.toMillis(), timeout / 3)));
    }

    /** Stops every worker of this process, leaving the journal as it is: the next driver starts them again. */
    @Override
    public synchronized void close() {
        List<StreamWorker> all = new ArrayList<>(running.values());
        all.forEach(StreamWorker::close);
        running.values().removeIf(StreamWorker::stopped);
    }
}
