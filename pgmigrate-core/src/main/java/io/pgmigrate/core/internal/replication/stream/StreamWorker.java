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
     * and quoted) the table on the target that holds each connection's committed position. {@code loopOrigin}, when
     * not empty, names the origin (and its {@code _2} ... family) of the stream in the other direction: transactions
     * the source received from it are skipped, so that they do not travel back where they came from, also on sources
     * that cannot filter by origin (before PostgreSQL 16).
     */
    public record Settings(String database, String slot, String origin, String progressTable,
                           LogicalStream.Options stream, Duration statusInterval, int workers, int groupChanges,
                           String sessionOptions, String loopOrigin) {

        /** Changes per group by default: hot rows reduce well, and a group's memory stays a few megabytes. */
        public static final int GROUP_CHANGES = 20_000;

        public Settings(String database, String slot, String origin, String progressTable,
                        LogicalStream.Options stream, Duration statusInterval, int workers) {
            this(database, slot, origin, progressTable, stream, statusInterval, workers, GROUP_CHANGES, "", "");
        }

        public Settings(String database, String slot, String origin, String progressTable,
                        LogicalStream.Options stream, Duration statusInterval, int workers, int groupChanges) {
            this(database, slot, origin, progressTable, stream, statusInterval, workers, groupChanges, "", "");
        }

        /** These settings with {@code options} (a libpq options string) on every target session. */
        public Settings withSessionOptions(String options) {
            return new Settings(database, slot, origin, progressTable, stream, statusInterval, workers, groupChanges,
                    options, loopOrigin);
        }

        /** These settings skipping the transactions the source received from {@code origin} and its family. */
        public Settings withLoopOrigin(String origin) {
            return new Settings(database, slot, this.origin, progressTable, stream, statusInterval, workers,
                    groupChanges, sessionOptions, origin);
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
            requireNonNull(sessionOptions, "sessionOptions");
            requireNonNull(loopOrigin, "loopOrigin");
        }

        @Override
        public String toString() {
            // the session options may carry a session key
            return "Settings[database=" + database + ", slot=" + slot + ", origin=" + origin + ", workers=" + workers
                    + "]";
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
    private volatile long failures;
    /** The round running now, or null between rounds. */
    private volatile ParallelRound current;

    /** Runs before every round and throws when this process may no longer apply (it lost the migration's lock). */
    private final Runnable mayApply;

    private StreamWorker(Connector source, Connector target, Settings settings, Runnable mayApply) {
        this.source = source;
        this.target = target;
        this.settings = settings;
        this.mayApply = mayApply;
        this.thread = new Thread(this::run, "pgmigrate-stream-" + settings.database());
        thread.setDaemon(true);
    }

    /** Starts replicating on a new thread. */
    public static StreamWorker start(Connector source, Connector target, Settings settings) {
        return start(source, target, settings, () -> { });
    }

    /**
     * Starts replicating on a new thread; {@code mayApply} runs before every round (a reconnect after a failure
     * included) and ends the worker when it throws: a process that lost the migration's lock must not stream into a
     * side another process may have turned around.
     */
    public static StreamWorker start(Connector source, Connector target, Settings settings, Runnable mayApply) {
        StreamWorker w = new StreamWorker(requireNonNull(source, "source"), requireNonNull(target, "target"),
                requireNonNull(settings, "settings"), requireNonNull(mayApply, "mayApply"));
        w.thread.start();
        return w;
    }

    private void run() {
        long backoff = 100;
        while (!closed) {
            try {
                mayApply.run();
            } catch (RuntimeException e) {
                failure = e;
                closed = true;
                LOG.warn("{}: the stream stops: {}", settings.database(), e.getMessage());
                signal();
                break;
            }
            try {
                round();
                backoff = 100;
            } catch (Exception e) {
                if (closed) {
                    break;
                }
                failure = e;
                failures++;
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

        /**
         * The stream is quiet and the target holds everything read: every source transaction that ends at or before
         * {@code received}, the last position the server sent, is on the target.
         */
        void idle(Lsn received);

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
            public void idle(Lsn received) {
                if (received.compareTo(committed) > 0) {
                    committed = received;
                    signal();
                }
            }

            @Override
            public Lsn committed() {
                return committed;
            }
        };
        try (ParallelRound round = new ParallelRound(settings.database(), settings.groupChanges(), settings.loopOrigin(),
                progress)) {
            Lsn from = round.open(target, settings.sessionOptions(), settings.origin(), settings.progressTable(),
                    workers, settings.workers(), exact);
            current = round;
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
                if (!exact && !closed) {
                    serialUntil = stream.lastReceived();
                    inOrderStretches++;
                }
                throw e;
            } finally {
                stream.close();
            }
        } finally {
            current = null;
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

    /**
     * Up to where the target holds every source transaction: the end of the last one committed, or, while the stream
     * is quiet and nothing read is left to commit, the last position the server sent.
     */
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

    /** Target connections applying now: the round's, 0 between rounds. */
    public int connections() {
        ParallelRound r = current;
        return r == null ? 0 : r.connections();
    }

    /** Messages read from the stream and not yet committed on the target. */
    public long queued() {
        ParallelRound r = current;
        return r == null ? 0 : r.queued();
    }

    /** How often a round failed since this worker started. */
    public long failures() {
        return failures;
    }

    /** Whether the worker was told to stop, or stopped itself. */
    public boolean closing() {
        return closed;
    }

    /** Whether the worker's thread has ended (after {@link #close()}). */
    public boolean stopped() {
        return !thread.isAlive();
    }

    /** Source transactions committed on the target since this worker started. */
    public long transactions() {
        return transactions;
    }

    /**
     * Stops the thread; complete source transactions are committed first (while some connection commits within 5 s,
     * for at most 15 s), a partial one is left to the next start. A target connection stuck in a statement (a lock it
     * waits for, a network that stopped answering) has it cancelled, then its socket closed: what it held is rolled
     * back and read again by the next start. A connection in its COMMIT is waited for ({@link #stopped()} stays false
     * while it lasts).
     */
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
