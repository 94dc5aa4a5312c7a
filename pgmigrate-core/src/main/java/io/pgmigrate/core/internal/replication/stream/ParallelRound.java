package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Begin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Commit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Delete;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Insert;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.LogicalMessage;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Origin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Relation;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamAbort;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamCommit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamStart;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamStop;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Truncate;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.TupleData;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Update;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Value;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import org.postgresql.PGConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One round of a {@link StreamWorker}: the stream read on this thread, applied on {@code workers} target connections
 * at once.
 *
 * <p>The stream is cut into groups: consecutive source transactions, closed at a transaction boundary once they hold
 * enough changes or the stream goes quiet. Group {@code g} goes to connection {@code g mod workers} and becomes one
 * target transaction there. Groups commit strictly in source order, each writing its last source transaction's end
 * into its connection's row of the progress table, so every group up to the highest recorded position is committed and
 * the next round starts there: nothing lost, nothing applied twice.
 *
 * <p>Before a connection writes a change it waits until every earlier group that touched the same row is committed
 * (rows are told apart by table and replica-identity key; a table without a key, or with replica identity FULL, counts
 * as one row); a TRUNCATE waits for every earlier group, and every later change waits for it. Conflicts this does not
 * see (a unique value other than the key freed by one group and taken by a later one) make the target refuse or wait;
 * a lock wait is bounded by {@code lock_timeout}, and an update or delete that finds no row is an error here; each ends
 * the round, and the {@link StreamWorker} applies the next stretch on one connection, in order.
 */
final class ParallelRound implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ParallelRound.class);


    /** A group is also closed once it has been open this long. */
    private static final long GROUP_NANOS = 500_000_000L;

    /** Batches queued per connection before the reader waits: at most 8,192 messages, as before batches. */
    private static final int QUEUE = 32;

    /**
     * Items handed to a connection at once: one hand-off per item (a lock and a thread wake-up each) cost more than
     * applying a row change did. A group's end, and whatever waits when the stream goes quiet, is handed at once.
     */
    private static final int BATCH = 256;

    /** How long a connection waits for a row lock before the round ends (an undetected conflict). */
    private static final String LOCK_TIMEOUT = "5s";

    private static final Duration QUIET = Duration.ofMillis(20);

    /**
     * A closing round gives up on what is not committed yet (the next round reads it again) once no connection has
     * committed for this long: long enough for a large group's statements, short of a connection that waits on a lock
     * or a network that stopped answering.
     */
    private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(5);

    /** ... and once it has been closing this long, however its connections commit. */
    private static final long DRAIN_CAP_NANOS = TimeUnit.SECONDS.toNanos(15);

    /** How long a round that reached its {@code until} waits for its connections to commit what it read. */
    private static final long UNTIL_NANOS = TimeUnit.SECONDS.toNanos(60);

    /** How long {@link #close()} waits for a connection's thread before it cancels its statement, and again after. */
    private static final long STOP_MILLIS = 2_000;

    /** What the reader hands a connection. */
    private sealed interface Item {
    }

    /** A message of group {@code group}; {@code after} is the group that must be committed before it is applied. */
    private record Change(long group, long after, PgOutputMessage message) implements Item {
    }

    /** The end of a group of {@code messages} messages: commit it once the one before is committed. */
    private record End(long group, long messages) implements Item {
    }

    /** Identifies a row across groups: table and key values, or the table alone. */
    private record RowKey(int relation, List<String> key) {
    }

    private final String database;
    private final int groupLimit;
    private final StreamWorker.Progress progress;
    private final List<Lane> lanes = new ArrayList<>();
    private final Map<RowKey, Long> lastGroup = new HashMap<>();
    private final Map<Integer, Relation> relations = new HashMap<>();
    private final Object commitLock = new Object();
    private long committedGroup;
    private volatile Throwable failure;
    private long group = 1;
    private long barrier;
    private long shapeBarrier;
    private int heldChanges;
    /**
     * Messages read for the connections (handed or still in a batch), and those of them whose group is committed: the
     * difference is queued.
     */
    private final java.util.concurrent.atomic.AtomicLong handed = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong settled = new java.util.concurrent.atomic.AtomicLong();
    private long groupMessages;
    private int groupTransactions;
    /**
     * Whether the group holds a schema change: it ends with that transaction, so that a change that fails rolls back
     * nothing after it, and the first schema change the target lacks is the one the stream stopped at.
     */
    private boolean schemaChangeInGroup;
    private long groupStarted;
    private boolean inTransaction;
    /** {@link #run}'s "stop": also looked at while the reader waits for a full queue. */
    private BooleanSupplier closing = () -> false;
    /** When a connection last committed (or the round opened). */
    private volatile long lastCommit = System.nanoTime();
    /** When the reader first saw {@link #closing} say stop; the reader's alone. */
    private long closingSince;
    private boolean closingSeen;
    /** The transaction being read came from {@link #loopOrigin}: its changes are not applied. */
    private boolean skipping;
    private final String loopOrigin;
    private Lsn lastEnd;
    private final Map<Integer, Spool> spools = new HashMap<>();
    private Spool streaming;

    /** One target connection with its applier, its queue and its thread. */
    private final class Lane implements Runnable {
        final int index;
        final Connection connection;
        final Applier applier;
        final BlockingQueue<List<Item>> queue = new ArrayBlockingQueue<>(QUEUE);
        /** Items read for this connection and not handed yet; the reader's alone. */
        List<Item> pending = new ArrayList<>(BATCH);
        final Map<Integer, Relation> known = new HashMap<>();
        final Thread thread;
        volatile boolean stop;
        long transactions;

        Lane(int index, Connection connection, Applier applier) {
            this.index = index;
            this.connection = connection;
            this.applier = applier;
            applier.beforeWrite(group -> {
                try {
                    if (group > 0 && !awaitCommitted(group)) {
                        throw new SQLException("the round ended while waiting for group " + group);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SQLException("interrupted while waiting for group " + group, e);
                }
            }, ParallelRound.this::committedGroup);
            this.thread = new Thread(this, "pgmigrate-apply-" + database + "-" + index);
            thread.setDaemon(true);
        }

        @Override
        public void run() {
            try {
                while (!stop && failure == null) {
                    List<Item> batch = queue.poll(50, TimeUnit.MILLISECONDS);
                    if (batch != null && !apply(batch)) {
                        return;
                    }
                }
            } catch (Throwable e) {
                fail(e);
            }
        }

        /** Applies a batch of items in order; false when the round ended while it waited. */
        private boolean apply(List<Item> batch) throws Exception {
            for (Item item : batch) {
                if (stop || failure != null) {
                    return false;
                }
                if (item instanceof Change c) {
                    // held changes are written at the group's end (or when too many are held), each after the
                    // group it depends on: this connection keeps taking its queue meanwhile, and writes first
                    // what depends on nothing uncommitted
                    applier.writeAfter(c.after());
                    applier.apply(c.message());
                } else if (item instanceof End e) {
                    // write what is held (after the groups it depends on are committed), then wait to commit
                    applier.executeHeld();
                    if (!awaitCommitted(e.group() - 1)) {
                        return false;
                    }
                    Lsn end = applier.flush();
                    settled.addAndGet(e.messages());
                    progress.committed(end, applier.lastSentinel(), applier.appliedTransactions() - transactions);
                    transactions = applier.appliedTransactions();
                    synchronized (commitLock) {
                        committedGroup = e.group();
                        lastCommit = System.nanoTime();
                        commitLock.notifyAll();
                    }
                }
            }
            return true;
        }
    }

    /**
     * @param groupChanges a group is closed at the next transaction boundary once it holds this many changes: larger
     *                     groups reduce hot rows further and batch more, smaller ones let connections overlap sooner
     * @param loopOrigin   transactions the source received from this origin or its family ({@code _2} ...) are not
     *                     applied (the stream in the other direction wrote them); empty: every transaction is applied
     */
    ParallelRound(String database, int groupChanges, String loopOrigin, StreamWorker.Progress progress) {
        this.database = database;
        this.groupLimit = groupChanges;
        this.loopOrigin = loopOrigin;
        this.progress = progress;
    }

    /** The replication origin of connection {@code index} (from 0): {@code origin}, then {@code origin_2} ... */
    static String origin(String origin, int index) {
        return index == 0 ? origin : origin + "_" + (index + 1);
    }

    /** Whether {@code name} is {@code origin} or one of its family as {@link #origin(String, int)} names them. */
    static boolean ofFamily(String name, String origin) {
        if (origin.isEmpty() || !name.startsWith(origin)) {
            return false;
        }
        String rest = name.substring(origin.length());
        return rest.isEmpty() || rest.length() > 1 && rest.charAt(0) == '_' && rest.substring(1).chars()
                .allMatch(c -> c >= '0' && c <= '9');
    }

    /**
     * Opens {@code workers} connections, each with its own replication origin, and returns the position to stream
     * from: the highest that any of the {@code maxWorkers} origins recorded (a round on fewer connections than the last
     * one must not start before what the others committed).
     */
    Lsn open(Connector target, String options, String origin, String progress, int workers, int maxWorkers,
             boolean exact) throws SQLException {
        for (int i = 0; i < workers; i++) {
            // Row values stay out of errors and logs: pgjdbc would put a failed batch entry's parameters and the
            // server's DETAIL ("Key (id)=(42) already exists") into the exception.
            Connection c = target.connect(database, options, Map.of("logServerErrorDetail", "false"));
            Applier a = new Applier(c, database, origin(origin, i), progress);
            lanes.add(new Lane(i, c, a)); // closed with the round from here on, whatever fails next
            if (i == 0) {
                // in replica mode, where a fence's DDL guard (an event trigger) does not fire: the side applied to is
                // fenced, possibly by a process that ended, under a key this one does not have
                Queries.execute(c, "SET session_replication_role = replica");
                Applier.createProgressTable(c, progress);
            }
            a.open();
            if (exact) {
                a.exact();
            } else {
                a.strict(); // net changes or other connections may be why a row is missing: apply again exactly
            }
            if (workers > 1) {
                Queries.execute(c, "SET lock_timeout = '" + LOCK_TIMEOUT + "'");
                c.commit();
            }
        }
        // The highest position of every connection this worker ever applied on, also those this round does not open;
        // FOR UPDATE waits for a commit still in flight on a connection an earlier round gave up (its row is locked
        // until that commit ends), so the position read is one that stays.
        Connection first = lanes.get(0).connection;
        Lsn from = Lsn.ZERO;
        for (String position : Queries.list(first, "SELECT position::text FROM " + progress
                        + " WHERE origin = ? OR (left(origin, length(?) + 1) = ? || '_'"
                        + " AND substr(origin, length(?) + 2) ~ '^[0-9]+$') FOR UPDATE",
                rs -> rs.getString(1), origin, origin, origin, origin)) {
            Lsn at = Lsn.parse(position);
            if (at.compareTo(from) > 0) {
                from = at;
            }
        }
        first.commit();
        lastEnd = from;
        LOG.debug("{}: streaming from {} on {} connection(s) (at most {})", database, from, workers, maxWorkers);
        lastCommit = System.nanoTime();
        lanes.forEach(l -> l.thread.start());
        return from;
    }

    /**
     * Reads the stream and hands its changes to the connections until {@code closed} says stop, the stream reaches
     * {@code until} (when given) at a group's end, or a connection fails.
     */
    void run(LogicalStream stream, BooleanSupplier closed, Lsn until) throws Exception {
        this.closing = closed;
        while (!closed.getAsBoolean()) {
            rethrow();
            PgOutputMessage m = stream.read(QUIET);
            if (m == null) {
                if (groupTransactions > 0 && !inTransaction) {
                    endGroup(stream);
                }
                handAll(stream); // a connection may start on what is read while the stream is quiet
                idle(stream);
                confirm(stream);
                continue;
            }
            if (streamed(m, stream)) {
                stream.keepAlive();
                if (!(m instanceof StreamCommit)) {
                    continue;
                }
            } else {
                dispatch(m, stream);
            }
            if (!inTransaction && groupTransactions > 0 && (heldChanges >= groupLimit || schemaChangeInGroup
                    || System.nanoTime() - groupStarted >= GROUP_NANOS)) {
                endGroup(stream);
                if (until != null && lastEnd.compareTo(until) >= 0) {
                    break;
                }
            }
            confirm(stream);
            stream.keepAlive();
        }
        // what is complete is committed; a partial source transaction is rolled back and streamed again
        if (groupTransactions > 0 && !inTransaction) {
            endGroup(stream);
        }
        long last = group - 1;
        long reached = System.nanoTime();
        synchronized (commitLock) {
            while (committedGroup < last && failure == null && (closed.getAsBoolean() ? !giveUp()
                    : System.nanoTime() - reached < UNTIL_NANOS)) {
                commitLock.wait(50);
                stream.keepAlive();
            }
        }
        confirm(stream);
        rethrow();
    }

    /**
     * Handles the messages of transactions the source streams while they run: their changes are spooled until the
     * commit, then dispatched as one transaction in the stream's order; an abort drops them. Returns false for any
     * other message.
     */
    private boolean streamed(PgOutputMessage m, LogicalStream stream) throws Exception {
        if (m instanceof StreamStart s) {
            streaming = spools.computeIfAbsent(s.xid(), Spool::new);
            return true;
        }
        if (m instanceof StreamStop) {
            streaming = null;
            return true;
        }
        if (m instanceof Origin && streaming != null) {
            // sent in the first block of a streamed transaction: read back after its Begin at the commit
            streaming.add(streaming.xid(), stream.raw());
            return true;
        }
        if (m instanceof StreamAbort a) {
            Spool spool = spools.get(a.xid());
            if (spool != null) {
                if (a.subXid() == a.xid()) {
                    spools.remove(a.xid()).close();
                } else {
                    spool.abort(a.subXid());
                }
            }
            return true;
        }
        if (m instanceof StreamCommit c) {
            Spool spool = spools.remove(c.xid());
            if (spool == null) {
                throw new SQLException("the stream committed transaction " + c.xid() + " without streaming it first");
            }
            try (spool) {
                dispatch(new Begin(c.commitLsn(), c.commitTime(), c.xid()), stream);
                spool.replay(message -> dispatch(message, stream));
                dispatch(new Commit(c.commitLsn(), c.endLsn(), c.commitTime()), stream);
            }
            return true;
        }
        if (m.streamXid().isPresent()) {
            if (streaming == null) {
                throw new SQLException("the stream sent a change of a running transaction outside a stream block");
            }
            streaming.add(m.streamXid().getAsInt(), stream.raw());
            return true;
        }
        return false;
    }

    private void dispatch(PgOutputMessage m, LogicalStream stream) throws Exception {
        if (m instanceof Relation r) {
            Relation before = relations.put(r.oid(), r);
            if (before != null && !before.equals(r)) {
                // a table's shape changed: from here on, changes wait for every group before this one
                shapeBarrier = group - 1;
            }
            return; // sent to a connection with the first change that needs it
        }
        if (m instanceof Begin) {
            inTransaction = true;
            skipping = false;
            if (groupTransactions == 0 && heldChanges == 0) {
                groupStarted = System.nanoTime();
            }
            send(m, 0, stream);
            return;
        }
        if (m instanceof Origin o) {
            if (inTransaction && ofFamily(o.name(), loopOrigin)) {
                skipping = true;
                LOG.debug("{}: skipping a transaction that came from {}: the stream in the other direction wrote it",
                        database, o.name());
            }
            return;
        }
        if (m instanceof Commit c) {
            inTransaction = false;
            skipping = false;
            groupTransactions++;
            lastEnd = c.endLsn();
            send(m, 0, stream);
            return;
        }
        if (skipping) {
            return;
        }
        long after = Math.max(barrier < group ? barrier : 0, shapeBarrier);
        if (m instanceof Insert i && ddl(i.relation())) {
            // a schema change: after everything before it is committed, and everything after it waits for it
            sendRelation(i.relation(), stream);
            after = group - 1;
            barrier = group;
            schemaChangeInGroup = true;
        } else if (m instanceof Insert i) {
            after = Math.max(after, touch(i.relation(), i.row(), true, stream));
        } else if (m instanceof Update u) {
            after = Math.max(after, touch(u.relation(), u.oldKind() == 'K' ? u.old() : u.row(), false, stream));
            if (u.oldKind() == 'K') {
                after = Math.max(after, touch(u.relation(), u.row(), false, stream));
            }
            if (u.oldKind() == 'O') {
                after = Math.max(after, touch(u.relation(), null, false, stream));
            }
        } else if (m instanceof Delete d) {
            after = Math.max(after, touch(d.relation(), d.oldKind() == 'K' ? d.old() : null, false, stream));
        } else if (m instanceof Truncate t) {
            for (int oid : t.relations()) {
                sendRelation(oid, stream);
            }
            after = group - 1; // every earlier group first, and every later change after this one
            barrier = group;
        } else if (!(m instanceof LogicalMessage)) {
            after = group - 1;
        }
        heldChanges++;
        send(m, after >= group ? 0 : after, stream);
    }

    /** Whether {@code relation} is a migration's DDL queue, whose rows carry schema changes. */
    private boolean ddl(int relation) {
        Relation r = relations.get(relation);
        return r != null && io.pgmigrate.core.internal.ddl.DdlCarry.isQueue(r.schema(), r.name());
    }

    /**
     * Records that this group touches the row; returns the last earlier group that did. In a table whose rows have
     * no key, inserts do not depend on each other (nothing finds a row by them), but an update or delete finds rows
     * by their values, so it depends on every earlier change of the table and every later change depends on it.
     */
    private long touch(int relation, TupleData row, boolean insert, LogicalStream stream) throws Exception {
        Relation r = sendRelation(relation, stream);
        RowKey key = key(r, row);
        if (key.key() != null) {
            Long before = lastGroup.put(key, group);
            return before == null ? 0 : before;
        }
        RowKey writes = new RowKey(relation, null);
        RowKey inserts = new RowKey(relation, List.of());
        Long lastWrite = lastGroup.get(writes);
        long before = lastWrite == null ? 0 : lastWrite;
        if (insert) {
            lastGroup.put(inserts, group);
        } else {
            Long lastInsert = lastGroup.get(inserts);
            before = Math.max(before, lastInsert == null ? 0 : lastInsert);
            lastGroup.put(writes, group);
        }
        return before;
    }

    private static RowKey key(Relation r, TupleData row) {
        boolean full = r.replicaIdentity() == 'f';
        if (row == null || full) {
            return new RowKey(r.oid(), null);
        }
        List<String> key = new ArrayList<>();
        for (int i = 0; i < r.columns().size(); i++) {
            if (r.columns().get(i).key()) {
                Value v = row.values().get(i);
                key.add(v instanceof PgOutputMessage.Text t ? t.text() : null);
            }
        }
        return new RowKey(r.oid(), key.isEmpty() ? null : key);
    }

    private Relation sendRelation(int oid, LogicalStream stream) throws Exception {
        Relation r = relations.get(oid);
        if (r == null) {
            throw new SQLException("the stream sent a change for relation " + oid + " before describing it");
        }
        Lane lane = lane(group);
        if (!r.equals(lane.known.get(oid))) {
            lane.known.put(oid, r);
            // The connection reads the table's columns on the target for this shape: only once the schema change that
            // made it (an earlier group, on another connection) is committed there.
            put(lane, new Change(group, Math.max(barrier < group ? barrier : group - 1, shapeBarrier), r), stream);
        }
        return r;
    }

    private void send(PgOutputMessage m, long after, LogicalStream stream) throws Exception {
        put(lane(group), new Change(group, after, m), stream);
        handed.incrementAndGet();
        groupMessages++;
    }

    /** Messages read from the stream and handed to a connection whose group is not committed yet. */
    long queued() {
        return Math.max(0, handed.get() - settled.get());
    }

    /** How many target connections this round applies on. */
    int connections() {
        return lanes.size();
    }

    private void endGroup(LogicalStream stream) throws Exception {
        put(lane(group), new End(group, groupMessages), stream);
        groupMessages = 0;
        group++;
        heldChanges = 0;
        groupTransactions = 0;
        schemaChangeInGroup = false;
        if (lastGroup.size() > 200_000) {
            long done;
            synchronized (commitLock) {
                done = committedGroup;
            }
            lastGroup.values().removeIf(g -> g <= done);
        }
    }

    private Lane lane(long g) {
        return lanes.get((int) (g % lanes.size()));
    }

    private void put(Lane lane, Item item, LogicalStream stream) throws Exception {
        lane.pending.add(item);
        if (item instanceof End || lane.pending.size() >= BATCH) {
            hand(lane, stream);
        }
    }

    /** Hands the connection what was read for it, waiting while its queue is full. */
    private void hand(Lane lane, LogicalStream stream) throws Exception {
        if (lane.pending.isEmpty()) {
            return;
        }
        List<Item> batch = lane.pending;
        while (!lane.queue.offer(batch, 50, TimeUnit.MILLISECONDS)) {
            rethrow();
            if (closing.getAsBoolean() && giveUp()) {
                // the connections commit nothing (a lock one waits for, a network that stopped answering): what is
                // queued is not committed, and the next round reads it again
                throw new SQLException("the stream was closed while connection " + (lane.index + 1)
                        + " had a full queue and nothing was committed");
            }
            confirm(stream);
            stream.keepAlive();
        }
        lane.pending = new ArrayList<>(BATCH);
    }

    private void handAll(LogicalStream stream) throws Exception {
        for (Lane lane : lanes) {
            hand(lane, stream);
        }
    }

    private void confirm(LogicalStream stream) throws SQLException {
        stream.confirm(progress.committed());
    }

    /**
     * When the stream is quiet and everything read is committed (no transaction open, none streaming, every group
     * committed), the target holds every transaction before the last position the server sent, its keepalives
     * included: that position counts as committed, as PostgreSQL's apply worker reports it when it has nothing
     * pending. Without it an idle stream's position would stay at its last transaction's end, short of the WAL that
     * followed (a sentinel's flush position, another database's writes), and the slot would keep that WAL.
     */
    private void idle(LogicalStream stream) {
        if (inTransaction || !spools.isEmpty() || committedGroup() < group - 1) {
            return;
        }
        progress.idle(stream.lastReceived());
    }

    private long committedGroup() {
        synchronized (commitLock) {
            return committedGroup;
        }
    }

    private boolean awaitCommitted(long g) throws InterruptedException {
        synchronized (commitLock) {
            while (committedGroup < g) {
                if (failure != null) {
                    return false;
                }
                commitLock.wait(50);
            }
        }
        return true;
    }

    private void fail(Throwable e) {
        synchronized (commitLock) {
            if (failure == null) {
                failure = e;
            }
            commitLock.notifyAll();
        }
    }

    private void rethrow() throws Exception {
        Throwable f = failure;
        if (f instanceof Exception e) {
            throw e;
        }
        if (f instanceof Error e) {
            throw e;
        }
    }

    /** Stops the connections' threads, rolls back what is not committed and closes the connections. */
    @Override
    public void close() {
        try {
            for (Spool spool : spools.values()) {
                try {
                    spool.close(); // streamed again from the start by the next round
                } catch (RuntimeException e) {
                    LOG.warn("{}: {}", database, e.getMessage());
                }
            }
            spools.clear();
        } finally {
            lanes.forEach(l -> l.stop = true);
            fail(new SQLException("the round ended"));
            // A connection stops at its next change; one stuck in a statement (a lock it waits for on the target, a
            // network that stopped answering) has it cancelled, then its socket closed. What it had not committed is
            // rolled back and read again by the next round, which starts from the positions committed with the rows.
            // A connection in its COMMIT is left to end it (Applier.stopCommits).
            if (!joined(STOP_MILLIS)) {
                for (Lane l : lanes) {
                    if (l.thread.isAlive() && l.applier.stopCommits()) {
                        LOG.info("{}: cancelling the statement of apply connection {}, which did not stop",
                                database, l.index + 1);
                        // on threads of their own: a cancel request to a server that stopped answering waits for
                        // pgjdbc's cancelSignalTimeout, and closing a TLS socket waits for a write in progress
                        daemon("cancel", l, () -> cancel(l.connection));
                    }
                }
            }
            if (!joined(STOP_MILLIS)) {
                for (Lane l : lanes) {
                    if (l.thread.isAlive() && l.applier.stopCommits()) {
                        LOG.warn("{}: closing the socket of apply connection {}, which did not stop after its"
                                + " statement was cancelled", database, l.index + 1);
                        daemon("abort", l, () -> abort(l.connection));
                    }
                }
                joined(STOP_MILLIS);
            }
            for (Lane l : lanes) {
                // its commit may wait for the target's synchronous standby: waited for as long as it lasts (the
                // worker is "not stopped" meanwhile, so no cutover goes on), since cutting it would not end it
                while (l.thread.isAlive() && l.applier.committing()) {
                    try {
                        l.thread.join(200);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            // Rolling back and closing take a round trip each, which a network that stopped answering never ends:
            // on threads of their own, waited for a while.
            List<Thread> closers = new ArrayList<>();
            for (Lane l : lanes) {
                if (l.thread.isAlive()) {
                    LOG.warn("{}: apply connection {} did not stop", database, l.index + 1);
                    closers.add(daemon("close", l, () -> Sessions.closeQuietly(l.connection)));
                } else {
                    closers.add(daemon("close", l, () -> {
                        l.applier.close();
                        Sessions.closeQuietly(l.connection);
                    }));
                }
            }
            if (!joinAll(closers, STOP_MILLIS)) {
                LOG.warn("{}: closing the apply connections did not end within {} ms; they end on threads of their"
                        + " own", database, STOP_MILLIS);
            }
        }
    }

    /**
     * Whether a closing round gives up on what its connections have not committed: none committed for
     * {@link #DRAIN_NANOS} (counted from the close at the earliest), or it has been closing for
     * {@link #DRAIN_CAP_NANOS}.
     */
    private boolean giveUp() {
        long now = System.nanoTime();
        if (!closingSeen) {
            closingSeen = true;
            closingSince = now;
        }
        return now - Math.max(lastCommit, closingSince) >= DRAIN_NANOS || now - closingSince >= DRAIN_CAP_NANOS;
    }

    /** Waits up to {@code millis} for every connection's thread to end; whether they all did. */
    private boolean joined(long millis) {
        return joinAll(lanes.stream().map(l -> l.thread).toList(), millis);
    }

    /** Waits up to {@code millis} in all for {@code threads} to end; whether they all did. */
    private static boolean joinAll(List<Thread> threads, long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        try {
            for (Thread t : threads) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left > 0) {
                    t.join(left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return threads.stream().noneMatch(Thread::isAlive);
    }

    private Thread daemon(String what, Lane l, Runnable task) {
        Thread t = new Thread(task, "pgmigrate-" + what + "-" + database + "-" + l.index);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void cancel(Connection c) {
        try {
            c.unwrap(PGConnection.class).cancelQuery();
        } catch (SQLException | RuntimeException e) {
            LOG.warn("{}: cancelling a statement failed: {}", database, e.getMessage());
        }
    }

    private void abort(Connection c) {
        try {
            c.abort(Runnable::run);
        } catch (SQLException | RuntimeException e) {
            LOG.warn("{}: closing a connection failed: {}", database, e.getMessage());
        }
    }
}
