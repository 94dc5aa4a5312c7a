package io.pgmigrate.core.internal.copy;

import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.pgmigrate.CopyState;
import io.pgmigrate.Side;
import io.pgmigrate.TableStatus;
import io.pgmigrate.core.internal.Mdc;
import io.pgmigrate.core.internal.Waits;
import io.pgmigrate.core.internal.copy.CopyPlan.Chunk;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import io.pgmigrate.core.internal.state.CopyRecord;
import io.pgmigrate.core.internal.state.Journal;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;
import org.postgresql.copy.PGCopyOutputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.PriorityBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;

/**
 * The initial copy of every database of a migration: chunks of all of them in one queue, largest table first, copied
 * by a fixed number of worker threads. Each chunk is read in its database's exported snapshot ({@link SnapshotSlot})
 * and streamed, row by row without buffering the chunk, from a {@code COPY ... TO STDOUT} on the source into a
 * {@code COPY ... FROM STDIN} on the target, in binary where every column allows it. A chunk commits on the target
 * together with its row in the database's marker table, so whether it is there is never in doubt, even when the
 * commit's answer is lost; the journal follows. When the last chunk of a database is there, its {@link Owner} builds
 * the indexes and starts the stream, in the thread that copied that chunk, while the others go on with other
 * databases.
 */
public final class InitialCopy implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(InitialCopy.class);
    private static final int ATTEMPTS = 3;
    /** How much a worker buffers before it sends to the target (pgjdbc's send buffer), and counts progress. */
    private static final int BUFFER = 1 << 18;

    /** What a database's copy needs from the migration around it. */
    public interface Owner {
        /**
         * Called in a copy thread once every chunk of {@code db} is on the target: builds what comes after the data
         * and starts the stream. What it throws fails the database's copy, with its message.
         */
        void copied(DatabaseCopy db) throws Exception;
    }

    /**
     * One database's part of the copy.
     */
    public static final class DatabaseCopy {
        private final String name;
        private final SnapshotSlot slot;
        private final Journal.DatabaseEntry journal;
        private final String markers;
        private final List<Chunk> chunks;
        private final AtomicInteger remaining = new AtomicInteger();
        private final Map<TableRef, TableProgress> progress = new LinkedHashMap<>();
        private final Set<TableRef> textOnly = ConcurrentHashMap.newKeySet();
        private volatile String failure = "";
        private volatile boolean finished;
        /**
         * Whether a table copied in one part is emptied in its chunk's transaction and its rows written frozen
         * ({@code COPY ... FREEZE}): they need no hint bits and no freezing later, so the index builds that follow
         * read without writing. Only when nothing refers to the tables yet (foreign keys come after the data).
         */
        private final boolean freeze;

        /** A chunk on the target, with its rows and bytes. */
        private record Done(Chunk chunk, long rows, long bytes) {
        }

        /** Chunks done since the journal last heard. */
        private final List<Done> unjournaled = new ArrayList<>();
        private long journaled = System.nanoTime();

        /**
         * Tells the journal a chunk is done, together with the others done in the last second: the marker row is what
         * makes a chunk count, so the journal (a file written and forced to disk each time) may trail it, and writing
         * it once per chunk of a many-table database would hold every worker up on its lock.
         */
        void recordDone(Chunk c, long rows, long bytes, boolean flush) {
            List<Done> batch;
            synchronized (unjournaled) {
                if (c != null) {
                    unjournaled.add(new Done(c, rows, bytes));
                }
                long now = System.nanoTime();
                if (!flush && now - journaled < 1_000_000_000L) {
                    return;
                }
                journaled = now;
                batch = new ArrayList<>(unjournaled);
                unjournaled.clear();
            }
            if (batch.isEmpty()) {
                return;
            }
            try {
                journal.changeCopy(r -> {
                    CopyRecord next = r;
                    for (Done d : batch) {
                        next = next.withDone(d.chunk().leaf().leaf().schema(), d.chunk().leaf().leaf().name(),
                                d.chunk().part(), d.rows(), d.bytes());
                    }
                    return next;
                });
            } catch (RuntimeException e) {
                // The marker rows prove these chunks; every resume reads them before the journal.
                LOG.warn("{}: the journal did not take {} finished chunks ({}); the target's markers have them", name,
                        batch.size(), e.getMessage());
            }
        }

        /**
         * @param markers the target's marker table, quoted: {@code (leaf_schema text, leaf text, part int)}, which a
         *                chunk's transaction inserts into
         */
        public DatabaseCopy(String name, SnapshotSlot slot, Journal.DatabaseEntry journal, String markers,
                            List<Chunk> chunks, boolean freeze) {
            this.freeze = freeze;
            this.name = name;
            this.slot = slot;
            this.journal = journal;
            this.markers = markers;
            this.chunks = List.copyOf(chunks);
            for (Chunk c : chunks) {
                progress.computeIfAbsent(c.leaf().table(), t -> new TableProgress()).add(c);
            }
        }

        public String name() {
            return name;
        }

        /** The slot whose snapshot the copy reads; null when every row was copied before and none is needed. */
        public SnapshotSlot slot() {
            return slot;
        }

        /** The plan. */
        public List<Chunk> chunks() {
            return chunks;
        }

        /** Why the copy stopped, empty while it runs or when it finished. */
        public String failure() {
            return failure;
        }

        /** Whether every chunk is on the target and the owner's step after it returned. */
        public boolean finished() {
            return finished;
        }

        /** Whether the copy still works on this database. */
        public boolean running() {
            return !finished && failure.isEmpty();
        }

        void fail(String why) {
            if (failure.isEmpty()) {
                failure = why;
                recordDone(null, 0, 0, true);
                LOG.error("{}: the initial copy stopped: {}", name, why);
            }
        }

        /** Each table's progress, in the plan's order (largest first). */
        public List<TableStatus> tables() {
            List<TableStatus> out = new ArrayList<>();
            long now = System.nanoTime();
            progress.forEach((t, p) -> out.add(p.status(t, now)));
            return out;
        }
    }

    /** The counters of one published table, over its leaves and parts. */
    private static final class TableProgress {
        private final AtomicLong rows = new AtomicLong();
        private final AtomicLong bytes = new AtomicLong();
        private final AtomicInteger done = new AtomicInteger();
        private long estimatedBytes;
        private long estimatedRows;
        private int parts;
        private final Set<TableRef> leaves = new java.util.HashSet<>();
        private volatile long started;
        private volatile long ended;

        void add(Chunk c) {
            parts++;
            if (leaves.add(c.leaf().leaf())) {
                estimatedBytes += c.leaf().bytes();
                estimatedRows += c.leaf().rows();
            }
        }

        void start(long now) {
            if (started == 0) {
                started = now;
            }
        }

        void chunkDone(long now) {
            if (done.incrementAndGet() == parts) {
                ended = now;
            }
        }

        TableStatus status(TableRef t, long now) {
            boolean copied = done.get() == parts;
            CopyState state = copied ? CopyState.CATCHING_UP : started == 0 ? CopyState.PENDING : CopyState.COPYING;
            double seconds = ((copied ? ended : now) - started) / 1e9;
            double rate = state == CopyState.COPYING && seconds > 0 ? bytes.get() / seconds : 0;
            return new TableStatus(t.schema(), t.name(), state, estimatedRows, rows.get(), bytes.get(),
                    estimatedBytes, rate);
        }
    }

    /** A table split by pages was rewritten since the plan. */
    private static final class Rewritten extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final transient TableRef table;

        Rewritten(TableRef table) {
            super("table " + table + " was rewritten since the copy was planned");
            this.table = table;
        }
    }

    private final Sessions sessions;
    private final Owner owner;
    private final RateLimiter throttle;
    private final int limitPerPeriod;
    private final Map<String, DatabaseCopy> databases = new LinkedHashMap<>();
    private final PriorityBlockingQueue<Chunk> queue = new PriorityBlockingQueue<>(64, CopyPlan.LARGEST_FIRST);
    private final java.util.Queue<DatabaseCopy> toFinish = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean closed;

    /**
     * @param maxBytesPerSecond the most all workers together read from the source per second; 0 for no limit
     */
    public InitialCopy(Sessions sessions, Owner owner, long maxBytesPerSecond) {
        this.sessions = sessions;
        this.owner = owner;
        if (maxBytesPerSecond > 0) {
            // Permits are bytes, handed out every 100 ms.
            limitPerPeriod = (int) Math.max(1, Math.min(Integer.MAX_VALUE, maxBytesPerSecond / 10));
            throttle = RateLimiter.of("pgmigrate-copy", RateLimiterConfig.custom()
                    .limitRefreshPeriod(Duration.ofMillis(100)).limitForPeriod(limitPerPeriod)
                    .timeoutDuration(Duration.ofDays(365)).build());
        } else {
            limitPerPeriod = 0;
            throttle = null;
        }
    }

    /**
     * Adds a database: the chunks its journal record says are done are counted and skipped, the others queued.
     */
    public synchronized void add(DatabaseCopy db) {
        databases.put(db.name, db);
        CopyRecord record = db.journal.copy().orElseThrow();
        long now = System.nanoTime();
        for (Chunk c : db.chunks) {
            CopyRecord.ChunkRecord r = record.chunks().stream().filter(x -> x.is(c.leaf().leaf().schema(),
                    c.leaf().leaf().name(), c.part())).findFirst().orElseThrow();
            TableProgress p = db.progress.get(c.leaf().table());
            if (r.done()) {
                p.rows.addAndGet(r.rows());
                p.bytes.addAndGet(r.bytes());
                p.start(now);
                p.chunkDone(now);
            } else {
                db.remaining.incrementAndGet();
                queue.add(c);
            }
        }
        LOG.info("{}: {} chunks of {} tables to copy ({} MB){}", db.name, db.remaining.get(), db.progress.size(),
                db.chunks.stream().mapToLong(Chunk::bytes).sum() >> 20,
                db.remaining.get() < db.chunks.size() ? "; " + (db.chunks.size() - db.remaining.get())
                        + " were copied before" : "");
    }

    /** The database's copy, if this run has it. */
    public synchronized java.util.Optional<DatabaseCopy> database(String name) {
        return java.util.Optional.ofNullable(databases.get(name));
    }

    /** Starts {@code workers} copy threads; a database with nothing left to copy is finished at once. */
    public synchronized void start(int workers) {
        for (DatabaseCopy db : databases.values()) {
            if (db.remaining.get() == 0 && !db.finished && db.failure.isEmpty()) {
                toFinish.add(db);
            }
        }
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(Mdc.carrying(this::work), "pgmigrate-copy-" + (i + 1));
            t.setDaemon(false);
            threads.add(t);
            t.start();
        }
    }

    private void work() {
        Map<String, Connection[]> open = new HashMap<>();
        try {
            DatabaseCopy copied;
            while (!closed && (copied = toFinish.poll()) != null) {
                try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, copied.name)) {
                    finish(copied);
                }
            }
            Chunk c;
            while (!closed && (c = queue.poll()) != null) {
                DatabaseCopy db;
                synchronized (this) {
                    db = databases.get(c.database());
                }
                try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db.name)) {
                    if (!db.failure.isEmpty()) {
                        continue;
                    }
                    // One pair of sessions per worker: the pair of another database is closed, not kept.
                    String current = db.name;
                    open.entrySet().removeIf(e -> {
                        if (e.getKey().equals(current)) {
                            return false;
                        }
                        Sessions.closeQuietly(e.getValue()[0]);
                        Sessions.closeQuietly(e.getValue()[1]);
                        return true;
                    });
                    copyWithRetries(db, c, open);
                }
            }
        } finally {
            open.values().forEach(pair -> {
                Sessions.closeQuietly(pair[0]);
                Sessions.closeQuietly(pair[1]);
            });
        }
    }

    private void copyWithRetries(DatabaseCopy db, Chunk c, Map<String, Connection[]> open) {
        TableProgress p = db.progress.get(c.leaf().table());
        p.start(System.nanoTime());
        for (int attempt = 1; !closed; attempt++) {
            long[] counted = new long[2];
            long[] copied;
            try {
                Connection[] pair = open.get(db.name);
                if (pair == null) {
                    pair = connect(db.name, db.freeze);
                    open.put(db.name, pair);
                }
                copied = copy(db, c, pair, counted);
            } catch (SQLException | IOException | RuntimeException e) {
                Connection[] pair = open.remove(db.name);
                if (pair != null) {
                    Sessions.closeQuietly(pair[0]);
                    Sessions.closeQuietly(pair[1]);
                }
                p.rows.addAndGet(-counted[0]);
                p.bytes.addAndGet(-counted[1]);
                if (closed) {
                    return;
                }
                if (e instanceof Rewritten r) {
                    db.fail("table " + r.table + " was rewritten on the source while its parts were being copied"
                            + " (VACUUM FULL, CLUSTER, TRUNCATE or an ALTER TABLE that rewrites it), so its page ranges"
                            + " no longer hold the rows they did. Call start() again: the tables copied in full are"
                            + " kept, and the others are copied by PostgreSQL's table synchronisation");
                    db.slot.close(); // its snapshot cannot finish the copy
                    return;
                }
                String state = e instanceof SQLException s && s.getSQLState() != null ? s.getSQLState() : "";
                if (state.equals("22023") && String.valueOf(e.getMessage()).contains("snapshot")) {
                    db.fail("the snapshot the copy reads (" + db.slot.snapshot() + ") is gone: the replication"
                            + " connection that held it was closed. Call start() again: tables copied in full are"
                            + " kept, the others are copied again by PostgreSQL's table synchronisation");
                    db.slot.close(); // so start() does not resume in it
                    return;
                }
                boolean binary = c.leaf().binary() && !db.textOnly.contains(c.leaf().leaf());
                if (binary && (state.equals("22P03") || state.equals("42804") || state.equals("XX000")
                        || state.equals("22P02"))) {
                    db.textOnly.add(c.leaf().leaf());
                    LOG.warn("{}: the target refused {} in binary format ({}); copying it as text", db.name,
                            c.leaf().leaf(), e.getMessage());
                    attempt--;
                    continue;
                }
                try {
                    if (committed(db, c)) {
                        // The commit arrived; only its answer was lost.
                        done(db, c, counted[0], counted[1]);
                        return;
                    }
                } catch (SQLException | RuntimeException check) {
                    e.addSuppressed(check);
                }
                if (attempt >= ATTEMPTS) {
                    db.fail("copying " + c + " failed " + ATTEMPTS + " times: " + e.getMessage());
                    return;
                }
                LOG.warn("{}: copying {} failed (attempt {} of {}), retrying: {}", db.name, c, attempt, ATTEMPTS,
                        e.getMessage());
                try {
                    Waits.pause(500L * attempt, db.name);
                } catch (RuntimeException interrupted) {
                    return;
                }
                continue;
            }
            // Outside the try: what happens after the commit must never count the chunk a second time.
            done(db, c, copied[0], copied[1]);
            return;
        }
    }

    /** A source and a target session of the copy's own. */
    private Connection[] connect(String db, boolean catalogSchema) throws SQLException {
        Connection src = sessions.freshForCopy(Side.SOURCE, db);
        Connection tgt = null;
        try {
            // The copy's sessions run long statements and sit idle in transaction between rows of another's: the
            // servers' own bounds for applications must not end them.
            Queries.execute(src, "SET statement_timeout = 0");
            Queries.execute(src, "SET idle_in_transaction_session_timeout = 0");
            tgt = sessions.freshForCopy(Side.TARGET, db);
            Queries.execute(tgt, "SET statement_timeout = 0");
            try {
                // As PostgreSQL's own table synchronisation: no user trigger and no foreign key check fires.
                Queries.execute(tgt, "SET session_replication_role = replica");
            } catch (SQLException e) {
                if (!catalogSchema) {
                    // The target's schema has its triggers and foreign keys already: they would fire on every row.
                    throw new SQLException("the copy's target sessions must run in replica mode"
                            + " (session_replication_role = replica), which needs a superuser, because the target's"
                            + " schema already has its triggers and foreign keys: " + e.getMessage(), e);
                }
                LOG.debug("{}: the target session cannot run in replica mode ({}); triggers are created after the"
                        + " data anyway", db, e.getMessage());
            }
            tgt.setAutoCommit(false);
            return new Connection[]{src, tgt};
        } catch (SQLException | RuntimeException e) {
            Sessions.closeQuietly(src);
            Sessions.closeQuietly(tgt);
            throw e;
        }
    }

    /**
     * Copies one chunk in one transaction on each side.
     *
     * @param counted what was counted into the table's progress, so a failed attempt can take it back
     * @return rows and bytes copied
     */
    private long[] copy(DatabaseCopy db, Chunk c, Connection[] pair, long[] counted)
            throws SQLException, IOException {
        Connection src = pair[0];
        Connection tgt = pair[1];
        TableProgress p = db.progress.get(c.leaf().table());
        boolean binary = c.leaf().binary() && !db.textOnly.contains(c.leaf().leaf());
        Queries.execute(src, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        Queries.execute(src, "SET TRANSACTION SNAPSHOT " + literal(db.slot.snapshot()));
        // A table rewritten since the plan (VACUUM FULL, CLUSTER, TRUNCATE, an ALTER TABLE that rewrites it) has its
        // rows on other pages, so a part would miss some that a finished one did not hold, or hold some twice; and a
        // rewrite that is not MVCC-safe shows an older snapshot an empty table. The lock keeps the table from being
        // rewritten while this chunk is copied; the file node says whether it was before.
        Queries.execute(src, "LOCK TABLE ONLY " + c.leaf().leaf().quoted() + " IN ACCESS SHARE MODE");
        long file = Long.parseLong(Queries.string(src, "SELECT pg_relation_filenode(?::regclass)::bigint",
                c.leaf().leaf().quoted()));
        if (file != c.leaf().file()) {
            throw new Rewritten(c.leaf().leaf());
        }
        boolean freeze = db.freeze && c.parts() == 1;
        if (freeze) {
            // FREEZE needs the table emptied in the same transaction; it is empty anyway (one part, not done yet).
            Queries.execute(tgt, "TRUNCATE ONLY " + c.leaf().leaf().quoted());
        }
        CopyOut out = src.unwrap(PGConnection.class).getCopyAPI().copyOut(c.copyOut(binary));
        CopyIn in = null;
        try {
            in = tgt.unwrap(PGConnection.class).getCopyAPI().copyIn(c.copyIn(binary, freeze));
            long rows = 0;
            long bytes = 0;
            long pendingBytes = 0;
            long pendingRows = 0;
            // Not closed on failure: closing ends the copy (sends what it holds); the catch below cancels it.
            PGCopyOutputStream to = new PGCopyOutputStream(in, BUFFER);
            {
                byte[] row;
                while ((row = out.readFromCopy()) != null) {
                    to.write(row);
                    pendingBytes += row.length;
                    pendingRows++;
                    if (pendingBytes >= BUFFER) {
                        throttle(pendingBytes);
                        p.bytes.addAndGet(pendingBytes);
                        p.rows.addAndGet(pendingRows);
                        counted[0] += pendingRows;
                        counted[1] += pendingBytes;
                        bytes += pendingBytes;
                        rows += pendingRows;
                        pendingBytes = 0;
                        pendingRows = 0;
                        if (closed) {
                            throw new SQLException("the copy was stopped");
                        }
                    }
                }
                rows = to.endCopy();
                bytes += pendingBytes;
            }
            p.bytes.addAndGet(pendingBytes);
            // Binary COPY sends its header and trailer as messages of their own: the target's count is the true one.
            p.rows.addAndGet(rows - counted[0]);
            counted[0] = rows;
            counted[1] = bytes;
            try (PreparedStatement mark = tgt.prepareStatement("INSERT INTO " + db.markers
                    + " (leaf_schema, leaf, part, rows, bytes) VALUES (?, ?, ?, ?, ?)")) {
                mark.setString(1, c.leaf().leaf().schema());
                mark.setString(2, c.leaf().leaf().name());
                mark.setInt(3, c.part());
                mark.setLong(4, rows);
                mark.setLong(5, bytes);
                mark.executeUpdate();
            }
            tgt.commit();
            Queries.execute(src, "COMMIT");
            return new long[]{rows, bytes};
        } catch (SQLException | IOException | RuntimeException e) {
            try {
                if (out.isActive()) {
                    out.cancelCopy();
                }
                if (in != null && in.isActive()) {
                    in.cancelCopy();
                }
                tgt.rollback();
            } catch (SQLException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void throttle(long bytes) {
        if (throttle == null) {
            return;
        }
        long left = bytes;
        while (left > 0) {
            int take = (int) Math.min(left, limitPerPeriod);
            throttle.acquirePermission(take);
            left -= take;
        }
    }

    /** Whether the chunk's transaction committed on the target, asked on a new session. */
    private boolean committed(DatabaseCopy db, Chunk c) throws SQLException {
        try (Connection tgt = sessions.fresh(Side.TARGET, db.name)) {
            return Queries.exists(tgt, "SELECT 1 FROM " + db.markers + " WHERE leaf_schema = ? AND leaf = ?"
                    + " AND part = ?", c.leaf().leaf().schema(), c.leaf().leaf().name(), c.part());
        }
    }

    private void done(DatabaseCopy db, Chunk c, long rows, long bytes) {
        db.progress.get(c.leaf().table()).chunkDone(System.nanoTime());
        LOG.debug("{}: copied {}: {} rows, {} bytes", db.name, c, rows, bytes);
        boolean last = db.remaining.decrementAndGet() == 0;
        db.recordDone(c, rows, bytes, last);
        if (last) {
            finish(db);
        }
    }

    private void finish(DatabaseCopy db) {
        try {
            LOG.info("{}: every table is copied", db.name);
            owner.copied(db);
            db.finished = true;
        } catch (Exception e) {
            db.fail("after the copy: " + e.getMessage());
        }
    }

    /** Stops the workers (a chunk being copied is rolled back) and ends every snapshot. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Thread t : threads) {
            try {
                t.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        List<DatabaseCopy> all;
        synchronized (this) {
            all = new ArrayList<>(databases.values());
        }
        all.forEach(db -> {
            if (db.slot != null) {
                db.slot.close();
            }
        });
    }

    /** For the chunk plan in the journal: one record per chunk, none done. */
    public static List<CopyRecord.ChunkRecord> records(List<Chunk> chunks) {
        List<CopyRecord.ChunkRecord> out = new ArrayList<>();
        for (Chunk c : chunks) {
            out.add(new CopyRecord.ChunkRecord(c.leaf().table().schema(), c.leaf().table().name(),
                    c.leaf().leaf().schema(), c.leaf().leaf().name(), c.part(), c.parts(), false, 0, 0));
        }
        return Collections.unmodifiableList(out);
    }
}
