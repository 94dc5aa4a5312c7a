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

    /**
     * What one worker streams and where it records its progress: {@code origin} names the replication origin its
     * sessions run under (and, with {@code _2} ... appended, its further connections'), {@code progressTable} (qualified
     * and quoted) the table on the target that holds each connection's committed position.
     */
    public record Settings(String database, String slot, String origin, String progressTable,
                           LogicalStream.Options stream, Duration statusInterval, int workers, int groupChanges) {

        /** Changes per group by default: hot rows reduce well, and a group's memory stays a few megabytes. */
        public static final int GROUP_CHANGES = 20_000;

        public Settings(String database, String slot, String origin, String progressTable,
                        LogicalStream.Options stream, Duration statusInterval, int workers) {
            this(database, slot, origin, progressTable, stream, statusInterval, workers, GROUP_CHANGES);
        }

        public Settings {
            if (groupChanges < 1) {
                throw new IllegalArgumentException("groupChanges must be at least 1, not " + groupChanges);
            }
            if (workers < 1) {
                throw new IllegalArgumentException("workers must be at least 1, not " + workers);
            }
            requireNonNull(database, "database");
            requireNonNull(slot, "slot");
            requireNonNull(origin, "origin");
            requireNonNull(progressTable, "progressTable");
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
    private volatile Lsn serialUntil;
    private volatile long inOrderStretches;

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

    /** What a round reports as it commits. */
    interface Progress {
        /** A group of source transactions ending at {@code end} is committed on the target. */
        void committed(Lsn end, Lsn sentinel, long transactions);

        /** The end of the last source transaction committed on the target. */
        Lsn committed();
    }

    /**
     * One round: connections opened, the stream read until closed or broken. After a round broke, the next applies
     * on one connection, each change as it came, up to where the broken one had read: a conflict that applying on
     * several connections or net changes per row did not foresee is then applied in the source's order.
     */
    private void round() throws Exception {
        boolean exact = serialUntil != null;
        int workers = exact ? 1 : settings.workers();
        Progress progress = new Progress() {
            @Override
            public void committed(Lsn end, Lsn s, long t) {
                if (end.compareTo(committed) > 0) {
                    committed = end;
                }
                if (s.compareTo(sentinel) > 0) {
                    sentinel = s;
                }
                transactions += t;
                failure = null;
                signal();
            }

            @Override
            public Lsn committed() {
                return committed;
            }
        };
        try (ParallelRound round = new ParallelRound(settings.database(), settings.groupChanges(), progress)) {
            Lsn from = round.open(target, settings.origin(), settings.progressTable(), workers, settings.workers(),
                    exact);
            if (from.compareTo(committed) > 0) {
                committed = from;
            }
            LogicalStream stream = LogicalStream.start(source, settings.database(), settings.slot(), from,
                    settings.stream(), settings.statusInterval());
            try {
                round.run(stream, () -> closed, serialUntil);
                if (serialUntil != null && committed.compareTo(serialUntil) >= 0) {
                    LOG.info("{}: applied in order up to {}; applying on {} connections again", settings.database(),
                            serialUntil, settings.workers());
                    serialUntil = null;
                }
            } catch (Exception e) {
                if (!exact) {
                    serialUntil = stream.lastReceived();
                    inOrderStretches++;
                }
                throw e;
            } finally {
                stream.close();
            }
        }
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

    /** How often a round broke and the stretch it had read was applied again on one connection, change by change. */
    public long inOrderStretches() {
        return inOrderStretches;
    }

    /** Source transactions committed on the target since this worker started. */
    public long transactions() {
        return transactions;
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
