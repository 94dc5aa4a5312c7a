package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Lsn;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import static java.util.Objects.requireNonNull;

/**
 * Replicates one database: reads its slot's stream ({@link LogicalStream}) and applies it on the target
 * ({@link Applier}) on a thread of its own, until closed. The source is told a position only after the target
 * committed everything before it. A broken connection or a failed statement ends the round; the next one starts, after
 * a backoff, from the target's committed position, so nothing is lost or applied twice. The last failure is kept for
 * status reports until a round commits again.
 */
public final class StreamWorker implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StreamWorker.class);

    /** How long one read waits for the stream before the worker commits what it holds. */
    private static final Duration QUIET = Duration.ofMillis(20);

    /** What one worker streams and where it records its progress. */
    public record Settings(String database, String slot, String origin, LogicalStream.Options stream,
                           Duration statusInterval) {
        public Settings {
            requireNonNull(database, "database");
            requireNonNull(slot, "slot");
            requireNonNull(origin, "origin");
            requireNonNull(stream, "stream");
            requireNonNull(statusInterval, "statusInterval");
        }
    }

    private final Connector source;
    private final Connector target;
    private final Settings settings;
    private final Thread thread;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition progressed = lock.newCondition();
    private volatile boolean closed;
    private volatile Lsn committed = Lsn.ZERO;
    private volatile Lsn sentinel = Lsn.ZERO;
    private volatile Exception failure;
    private volatile long transactions;
    private volatile long changes;
    private volatile Applier applier;

    private StreamWorker(Connector source, Connector target, Settings settings) {
        this.source = source;
        this.target = target;
        this.settings = settings;
        this.thread = new Thread(this::run, "pgmigrate-stream-" + settings.database());
        thread.setDaemon(true);
    }

    /** Starts replicating on a new thread. */
    public static StreamWorker start(Connector source, Connector target, Settings settings) {
        StreamWorker w = new StreamWorker(requireNonNull(source, "source"), requireNonNull(target, "target"),
                requireNonNull(settings, "settings"));
        w.thread.start();
        return w;
    }

    private void run() {
        long backoff = 100;
        while (!closed) {
            try {
                round();
                backoff = 100;
            } catch (Exception e) {
                if (closed) {
                    break;
                }
                failure = e;
                LOG.warn("{}: the stream stopped: {}; starting again from {} in {} ms", settings.database(),
                        e.getMessage(), committed, backoff);
                signal();
                lock.lock();
                try {
                    progressed.awaitNanos(backoff * 1_000_000L);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    break;
                } finally {
                    lock.unlock();
                }
                backoff = Math.min(backoff * 2, 5_000);
            }
        }
    }

    /** One connection pair's life: open, stream until closed or broken. */
    private void round() throws SQLException {
        // Row values stay out of errors and logs: pgjdbc would put a failed batch entry's parameters and the server's
        // DETAIL ("Key (id)=(42) already exists") into the exception.
        Connection t = target.connect(settings.database(), "", Map.of("logServerErrorDetail", "false"));
        try (Applier a = new Applier(t, settings.database(), settings.origin())) {
            Lsn from = a.open();
            committed = from;
            applier = a;
            try (LogicalStream stream = LogicalStream.start(source, settings.database(), settings.slot(), from,
                    settings.stream(), settings.statusInterval())) {
                while (!closed) {
                    PgOutputMessage m = stream.read(QUIET);
                    if (m == null) {
                        commit(a, stream);
                        continue;
                    }
                    a.apply(m);
                    if (a.due()) {
                        commit(a, stream);
                    }
                    stream.keepAlive();
                }
                // closing: what is complete is committed, what is not is rolled back and streamed again next time
                if (a.pending() && !a.insideTransaction()) {
                    committed = a.flush();
                }
            }
        } finally {
            applier = null;
            Sessions.closeQuietly(t);
        }
    }

    private void commit(Applier a, LogicalStream stream) throws SQLException {
        if (!a.pending() || a.insideTransaction()) {
            return;
        }
        Lsn c = a.flush();
        committed = c;
        sentinel = a.lastSentinel();
        transactions = a.appliedTransactions();
        changes = a.appliedChanges();
        failure = null;
        stream.confirm(c);
        signal();
    }

    private void signal() {
        lock.lock();
        try {
            progressed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The end of the last source transaction committed on the target. */
    public Lsn committed() {
        return committed;
    }

    /** The last failure, until a later commit succeeded. */
    public Optional<Exception> failure() {
        return Optional.ofNullable(failure);
    }

    /**
     * Waits until the target committed every source transaction that ended at or before {@code lsn}.
     *
     * @return whether it did within {@code timeout}
     */
    public boolean awaitCommitted(Lsn lsn, Duration timeout) {
        return await(() -> committed.compareTo(lsn) >= 0, timeout);
    }

    /**
     * Waits until the transaction that wrote pgmigrate's message at {@code lsn} (the cutover's sentinel) is committed
     * on the target.
     */
    public boolean awaitSentinel(Lsn lsn, Duration timeout) {
        return await(() -> sentinel.compareTo(lsn) >= 0, timeout);
    }

    private boolean await(java.util.function.BooleanSupplier done, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (!done.getAsBoolean()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                if (closed) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, settings.database(),
                            "the stream was closed while waiting for it");
                }
                progressed.awaitNanos(Math.min(left, 100_000_000L));
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PgMigrateException(CoreErrorCode.INTERRUPTED, settings.database(), "interrupted while waiting"
                    + " for the stream", e);
        } finally {
            lock.unlock();
        }
    }

    /** Source transactions committed on the target by the current round. */
    public long transactions() {
        return transactions;
    }

    /** Row changes committed on the target by the current round. */
    public long changes() {
        return changes;
    }

    /** Stops the thread; complete source transactions are committed first, a partial one is left to the next start. */
    @Override
    public void close() {
        closed = true;
        signal();
        try {
            thread.join(Duration.ofSeconds(30).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.warn("{}: the stream's thread did not end within 30 s", settings.database());
        }
    }
}
