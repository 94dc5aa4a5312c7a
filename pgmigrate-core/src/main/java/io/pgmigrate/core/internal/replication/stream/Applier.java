package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.internal.ddl.DdlCarry;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Begin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Column;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Commit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Delete;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Insert;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.LogicalMessage;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Origin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Relation;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Truncate;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.TupleData;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Type;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Update;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Value;
import io.pgmigrate.core.internal.sql.Queries;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;
import static java.util.Objects.requireNonNull;

/**
 * Applies decoded source transactions to the target on one connection, exactly once: the end position of the last
 * source transaction a target transaction holds is written to the progress table, in that same target transaction, so
 * after a crash at any instant the stream resumes from {@link #open()}'s position and every source transaction is on
 * the target once.
 *
 * <p>Not replication-origin progress ({@code pg_replication_origin_xact_setup}): PostgreSQL advances an origin also
 * when the transaction aborts (so that an aborted streamed transaction is not requested again), and a JVM killed
 * between that call and its {@code COMMIT} left the origin past rows that were rolled back (StreamCrashIT saw it).
 * The session still runs under its replication origin ({@code pg_replication_origin_session_setup}), so what it writes
 * is marked as replicated and a stream with {@code origin = none} does not send it back.
 *
 * <p>Consecutive source transactions are applied in one target transaction until {@link #flush()} commits it (the
 * caller, {@link ParallelRound}, flushes at the end of each group), reduced to net changes written set-based. Changes are applied with {@code session_replication_role = replica}, as PostgreSQL's own
 * apply worker applies them: user triggers and foreign-key checks do not fire, the source already ran them. A value
 * the source did not send (an unchanged TOASTed column) is left as it is on the target, never written as NULL.
 *
 * <p>Not thread-safe: one thread drives it; {@link #committed()} may be read from any.
 */
public final class Applier implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Applier.class);

    /** Prepared statements kept per connection. */
    private static final int MAX_STATEMENTS = 256;

    /** Prefix of the logical decoding messages pgmigrate writes into the source's WAL (the cutover's sentinel). */
    public static final String MESSAGE_PREFIX = "pgmigrate";

    private final Connection target;
    private final String database;
    private final String origin;
    private final String progress;
    private final Map<Integer, Relation> relations = new HashMap<>();
    private final Map<String, PreparedStatement> statements = new HashMap<>();
    private final Map<Integer, List<String>> types = new HashMap<>();
    /**
     * Per relation, which of the columns the stream sends are {@code GENERATED ALWAYS AS IDENTITY} on the target:
     * an insert must say {@code OVERRIDING SYSTEM VALUE} for them, and an update cannot set them (it would be refused).
     */
    private final Map<Integer, boolean[]> alwaysIdentity = new HashMap<>();
    private final AtomicLong missingRows = new AtomicLong();
    private final AtomicLong appliedTransactions = new AtomicLong();

    private boolean strict;
    private BeforeWrite beforeWrite = group -> { };
    private java.util.function.LongSupplier committedGroup = () -> Long.MAX_VALUE;
    private long writeAfter;
    /** Per relation, the group that must be committed before its columns are read on the target. */
    private final Map<Integer, Long> shapeAfter = new HashMap<>();

    /**
     * Runs before anything is sent to the target: where a connection applying with others waits until the group
     * (of source transactions) that what it writes depends on is committed.
     */
    interface BeforeWrite {
        void await(long group) throws SQLException;
    }
    private final NetChanges net = new NetChanges(this);
    private PreparedStatement recordPosition;
    private volatile Lsn committed = Lsn.ZERO;
    private volatile Lsn lastSentinel = Lsn.ZERO;
    private Lsn sentinelInBatch = Lsn.ZERO;
    private boolean inSourceTransaction;
    private Lsn batchEnd;
    private Instant batchCommitTime;
    private int batchTransactions;
    private Batch batch;

    private static final int OPEN = 0;
    private static final int COMMITTING = 1;
    private static final int NO_MORE_COMMITS = 2;
    /** Whether a COMMIT runs now, or none may start any more ({@link #stopCommits()}). */
    private final AtomicInteger commits = new AtomicInteger(OPEN);

    /** The statement whose rows are being collected, with what each of its rows changes. */
    private record Batch(PreparedStatement statement, String sql, List<String> rows) {
    }

    /**
     * @param progress the progress table, qualified and quoted, as {@link #createProgressTable} creates it; one row per
     *                 origin
     */
    public Applier(Connection target, String database, String origin, String progress) {
        this.target = requireNonNull(target, "target");
        this.database = requireNonNull(database, "database");
        this.origin = requireNonNull(origin, "origin");
        this.progress = requireNonNull(progress, "progress");
    }

    /**
     * Creates the progress table {@code table} (qualified and quoted) unless it exists; in auto-commit mode. Only
     * when it is missing: a side fenced by another process refuses DDL from sessions without that process's key, and
     * {@code CREATE ... IF NOT EXISTS} is DDL even when it creates nothing.
     */
    public static void createProgressTable(Connection target, String table) throws SQLException {
        if (Queries.string(target, "SELECT to_regclass(?)::text", table) != null) {
            return;
        }
        Queries.execute(target, "CREATE TABLE IF NOT EXISTS " + table
                + " (origin text PRIMARY KEY, position pg_lsn NOT NULL, committed_at timestamptz NOT NULL)");
    }

    /**
     * Prepares the session (origin, replication role, synchronous commit) and returns the position to stream from:
     * the end of the last source transaction committed here, or {@link Lsn#ZERO} when none was.
     */
    public Lsn open() throws SQLException {
        target.setAutoCommit(true);
        if (!Queries.exists(target, "SELECT 1 FROM pg_replication_origin WHERE roname = ?", origin)) {
            Queries.string(target, "SELECT pg_replication_origin_create(?)::text", origin);
        }
        Queries.string(target, "SELECT pg_replication_origin_session_setup(?)::text", origin);
        // A position is confirmed to the source (which then drops its WAL) only once the target has it on disk, and on
        // its synchronous standbys when it has them: commit waits for that, whatever the server's default.
        Queries.execute(target, "SET synchronous_commit = on");
        Queries.execute(target, "SET session_replication_role = replica");
        // values arrive in the text the source's walsender printed with the same settings (LogicalStream)
        Queries.execute(target, "SET intervalstyle = postgres");
        Queries.execute(target, "SET datestyle = ISO");
        Queries.execute(target, "SET lc_monetary = 'C'");
        Queries.execute(target, "SET statement_timeout = 0");
        String position = Queries.first(target, "SELECT position::text FROM " + progress + " WHERE origin = ?",
                rs -> rs.getString(1), origin).orElse(null);
        committed = position == null ? Lsn.ZERO : Lsn.parse(position);
        if (position == null) {
            // The row exists before the first commit records a position in it: a round that reads the positions
            // (FOR UPDATE) then waits for a commit still in flight on a connection given up, as for every later one;
            // a row inserted by that commit would not be seen, nor waited for, until it ended.
            try (PreparedStatement row = target.prepareStatement("INSERT INTO " + progress
                    + " (origin, position, committed_at) VALUES (?, '0/0', now()) ON CONFLICT (origin) DO NOTHING")) {
                row.setString(1, origin);
                row.executeUpdate();
            }
        }
        target.setAutoCommit(false);
        LOG.debug("{}: applying as replication origin {} from {}", database, origin, committed);
        return committed;
    }

    /**
     * Refuses every later commit, and says whether the connection's statement may be cancelled now: not while a COMMIT
     * runs. A commit that waits for the target's synchronous standby ends "committed locally" when cancelled, and a
     * round reading the positions would then start after rows the standby may not have; a commit is left to end.
     */
    boolean stopCommits() {
        while (true) {
            int now = commits.get();
            if (now == COMMITTING) {
                return false;
            }
            if (now == NO_MORE_COMMITS || commits.compareAndSet(OPEN, NO_MORE_COMMITS)) {
                return true;
            }
        }
    }

    /** Whether a COMMIT runs now. */
    boolean committing() {
        return commits.get() == COMMITTING;
    }

    /**
     * Makes an update or delete that finds no row an error instead of a logged count: when several connections
     * apply at once, it may mean an earlier change to the row is not applied yet, so the stretch is applied again in
     * order.
     */
    void strict() {
        strict = true;
    }

    /**
     * Sets what runs before every write to the target, and how to tell which groups are committed already (their
     * dependents are written first, without waiting).
     */
    void beforeWrite(BeforeWrite hook, java.util.function.LongSupplier committed) {
        beforeWrite = requireNonNull(hook, "hook");
        committedGroup = requireNonNull(committed, "committed");
    }

    /** The group the next message's writes depend on (0: none); held changes keep theirs. */
    void writeAfter(long group) {
        writeAfter = group;
    }

    long writeAfter() {
        return writeAfter;
    }

    long committedGroup() {
        return committedGroup.getAsLong();
    }

    /**
     * Applies every change as it comes, in the source's order, instead of one net change per row per target
     * transaction: for a stretch that the net form could not apply (a unique value other than the key moved between
     * rows).
     */
    void exact() {
        net.disable();
    }

    /** Applies one message of the stream; the target transaction stays open until {@link #flush()}. */
    public void apply(PgOutputMessage message) throws SQLException {
        if (message instanceof Begin b) {
            if (inSourceTransaction) {
                throw new SQLException("the stream began transaction " + b.xid() + " inside another");
            }
            inSourceTransaction = true;
        } else if (message instanceof Commit c) {
            requireTransaction("a commit");
            inSourceTransaction = false;
            batchEnd = c.endLsn();
            batchCommitTime = c.commitTime();
            batchTransactions++;
        } else if (message instanceof Relation r) {
            shapeAfter.put(r.oid(), writeAfter); // the group whose commit this shape's columns wait for
            Relation before = relations.put(r.oid(), r);
            if (before != null && !before.equals(r)) {
                net.execute();
                sendBatch();
                types.remove(r.oid());
                alwaysIdentity.remove(r.oid());
                closeStatements();
            }
        } else if (message instanceof Insert i && DdlCarry.isQueue(relation(i.relation()).schema(),
                relation(i.relation()).name())) {
            // a schema change: its trigger runs it now, after what came before it, before what comes after it
            net.execute();
            sendBatch();
            beforeWrite.await(writeAfter);
            insert(relation(i.relation()), i.row());
            sendBatch();
        } else if (message instanceof Insert i) {
            Relation r = relation(i.relation());
            if (!net.add(r, message)) {
                insert(r, i.row());
            }
        } else if (message instanceof Update u) {
            Relation r = relation(u.relation());
            if (!net.add(r, message)) {
                update(r, u);
            }
        } else if (message instanceof Delete d) {
            Relation r = relation(d.relation());
            if (!net.add(r, message)) {
                delete(r, d);
            }
        } else if (message instanceof Truncate t) {
            truncate(t);
        } else if (message instanceof LogicalMessage m) {
            if (m.transactional() && MESSAGE_PREFIX.equals(m.prefix())) {
                sentinelInBatch = m.lsn();
            }
        } else if (message instanceof Origin o) {
            LOG.trace("{}: transaction from origin {}", database, o.name());
        } else if (message instanceof Type t) {
            LOG.trace("{}: type {}.{}", database, t.schema(), t.name());
        } else {
            throw new SQLException("unexpected message for the applier: " + message.getClass().getSimpleName()
                    + " (streamed transactions are read back whole at their commit)");
        }
    }

    /**
     * Sends what is held (net changes, a pending batch) to the target without committing: a connection does its work
     * before it waits for its turn to commit.
     */
    void executeHeld() throws SQLException {
        net.execute();
        sendBatch();
    }

    /**
     * Commits the complete source transactions applied so far, with their end position in the progress table, and
     * returns that position. Call between source transactions only.
     */
    public Lsn flush() throws SQLException {
        if (inSourceTransaction) {
            throw new IllegalStateException("a source transaction is still being applied");
        }
        if (batchTransactions == 0) {
            return committed;
        }
        net.execute();
        sendBatch();
        if (recordPosition == null) {
            recordPosition = target.prepareStatement("INSERT INTO " + progress
                    + " (origin, position, committed_at) VALUES (?, ?::pg_lsn, ?) ON CONFLICT (origin) DO UPDATE"
                    + " SET position = excluded.position, committed_at = excluded.committed_at");
        }
        recordPosition.setString(1, origin);
        recordPosition.setString(2, batchEnd.toString());
        recordPosition.setTimestamp(3, Timestamp.from(batchCommitTime));
        recordPosition.executeUpdate();
        if (!commits.compareAndSet(OPEN, COMMITTING)) {
            throw new SQLException("the round ended: not committed");
        }
        try {
            target.commit();
        } finally {
            commits.compareAndSet(COMMITTING, OPEN);
        }
        committed = batchEnd;
        if (sentinelInBatch.compareTo(lastSentinel) > 0) {
            lastSentinel = sentinelInBatch;
        }
        appliedTransactions.addAndGet(batchTransactions);
        batchTransactions = 0;
        return committed;
    }

    /** The end of the last source transaction committed on the target. */
    public Lsn committed() {
        return committed;
    }

    /** The position of the last pgmigrate message whose transaction is committed on the target. */
    public Lsn lastSentinel() {
        return lastSentinel;
    }

    /** Source transactions committed on the target since this opened. */
    public long appliedTransactions() {
        return appliedTransactions.get();
    }


    private void requireTransaction(String what) throws SQLException {
        if (!inSourceTransaction) {
            throw new SQLException("the stream sent " + what + " outside a transaction");
        }
    }

    private Relation relation(int oid) throws SQLException {
        requireTransaction("a row change");
        Relation r = relations.get(oid);
        if (r == null) {
            throw new SQLException("the stream sent a change for relation " + oid + " before describing it");
        }
        return r;
    }

    /**
     * Inserts rows of one table with one statement: each column's values travel as one text array, parsed by the
     * target's input function for the column's type.
     */
    void insertAll(Relation r, List<List<Value>> rows) throws SQLException {
        List<String> types = types(r);
        StringJoiner cols = new StringJoiner(", ");
        StringJoiner values = new StringJoiner(", ");
        StringJoiner arrays = new StringJoiner(", ");
        StringJoiner aliases = new StringJoiner(", ");
        for (int i = 0; i < r.columns().size(); i++) {
            cols.add(quote(r.columns().get(i).name()));
            values.add("u.v" + i + "::" + types.get(i));
            arrays.add("?::text[]");
            aliases.add("v" + i);
        }
        String sql = "INSERT INTO " + name(r) + " (" + cols + ")" + overriding(r) + " SELECT " + values
                + " FROM unnest(" + arrays + ") AS u(" + aliases + ")";
        executeSet(sql, r, rows, false);
    }

    /**
     * Updates rows of one table with one statement; {@code keys} are the rows' keys before the update, {@code rows}
     * their new values, all with the same columns left unsent.
     */
    void updateAll(Relation r, List<TupleData> keys, List<List<Value>> rows) throws SQLException {
        List<String> types = types(r);
        List<Integer> keyColumns = keyColumns(r);
        List<Integer> setColumns = new ArrayList<>();
        boolean[] identity = alwaysIdentity.get(r.oid());
        for (int i = 0; i < r.columns().size(); i++) {
            if (rows.get(0).get(i) != PgOutputMessage.Unchanged.INSTANCE && !identity[i]) {
                setColumns.add(i);
            }
        }
        for (int n = 0; n < rows.size(); n++) {
            requireIdentityKept(r, identity, keys.get(n).values(), rows.get(n));
        }
        if (setColumns.isEmpty()) {
            return; // only identity columns, kept as they were
        }
        StringJoiner set = new StringJoiner(", ");
        StringJoiner arrays = new StringJoiner(", ");
        StringJoiner aliases = new StringJoiner(", ");
        String where = keyMatch(r, types, keyColumns, arrays, aliases);
        for (int i : setColumns) {
            arrays.add("?::text[]");
            aliases.add("v" + i);
            set.add(quote(r.columns().get(i).name()) + " = u.v" + i + "::" + types.get(i));
        }
        String sql = "UPDATE " + name(r) + " AS t SET " + set + " FROM unnest(" + arrays + ") AS u(" + aliases
                + ") WHERE " + where;
        List<List<Value>> combined = new ArrayList<>(rows.size());
        for (int n = 0; n < rows.size(); n++) {
            List<Value> values = new ArrayList<>(keyColumns.size() + setColumns.size());
            for (int i : keyColumns) {
                values.add(keys.get(n).values().get(i));
            }
            for (int i : setColumns) {
                values.add(rows.get(n).get(i));
            }
            combined.add(values);
        }
        executeSet(sql, r, combined, true);
    }

    /** Deletes rows of one table, found by their keys, with one statement. */
    void deleteAll(Relation r, List<TupleData> keys) throws SQLException {
        List<String> types = types(r);
        List<Integer> keyColumns = keyColumns(r);
        StringJoiner arrays = new StringJoiner(", ");
        StringJoiner aliases = new StringJoiner(", ");
        String where = keyMatch(r, types, keyColumns, arrays, aliases);
        String sql = "DELETE FROM " + name(r) + " AS t USING unnest(" + arrays + ") AS u(" + aliases + ") WHERE "
                + where;
        List<List<Value>> rows = new ArrayList<>(keys.size());
        for (TupleData k : keys) {
            List<Value> values = new ArrayList<>(keyColumns.size());
            for (int i : keyColumns) {
                values.add(k.values().get(i));
            }
            rows.add(values);
        }
        executeSet(sql, r, rows, true);
    }

    /**
     * Adds one text array and alias per key column ({@code k<i>}) and returns the condition that matches the target's
     * row {@code t} to the array row {@code u}.
     */
    private static String keyMatch(Relation r, List<String> types, List<Integer> keyColumns, StringJoiner arrays,
                                   StringJoiner aliases) {
        StringJoiner where = new StringJoiner(" AND ");
        for (int i : keyColumns) {
            arrays.add("?::text[]");
            aliases.add("k" + i);
            where.add("t." + quote(r.columns().get(i).name()) + " = u.k" + i + "::" + types.get(i));
        }
        return where.toString();
    }

    private static List<Integer> keyColumns(Relation r) {
        List<Integer> key = new ArrayList<>();
        for (int i = 0; i < r.columns().size(); i++) {
            if (r.columns().get(i).key()) {
                key.add(i);
            }
        }
        return key;
    }

    /** Binds one text array per column of {@code rows} and runs {@code sql}; for updates and deletes, counts rows not found. */
    private void executeSet(String sql, Relation r, List<List<Value>> rows, boolean counted) throws SQLException {
        sendBatch();
        beforeWrite.await(writeAfter);
        PreparedStatement ps = statements.get(sql);
        if (ps == null) {
            ps = target.prepareStatement(sql);
            statements.put(sql, ps);
        }
        int p = 1;
        for (int position = 0; position < rows.get(0).size(); position++) {
            String[] column = new String[rows.size()];
            for (int n = 0; n < rows.size(); n++) {
                Value v = rows.get(n).get(position);
                if (v instanceof PgOutputMessage.Text t) {
                    column[n] = t.text();
                } else if (v != PgOutputMessage.Null.INSTANCE) {
                    throw new SQLException("no text value for a column of " + name(r));
                }
            }
            ps.setArray(p++, target.createArrayOf("text", column));
        }
        int changed;
        try {
            changed = ps.executeUpdate();
        } catch (SQLException e) {
            throw refused(sql, e);
        }
        if (counted && changed < rows.size()) {
            int missing = rows.size() - changed;
            if (strict) {
                throw new SQLException(database + ": " + missing + " updates or deletes found no row in " + name(r),
                        "P0002");
            }
            if (missingRows.getAndAdd(missing) < 10) {
                LOG.warn("{}: {} updates or deletes from the source found no row in {} on the target", database,
                        missing, name(r));
            }
        }
    }

    /**
     * The target's type of each column the stream sends for {@code r}, as SQL, for casts from text. Without the type
     * modifier: an explicit cast to {@code varchar(10)} would cut a longer value silently, where the assignment to the
     * column refuses it. Asked with modifier -1, not NULL: without one {@code format_type} names {@code char(n)} and
     * {@code bit(n)} {@code character} and {@code bit}, which a cast reads as length 1 (and cuts to it).
     */
    private List<String> types(Relation r) throws SQLException {
        List<String> known = types.get(r.oid());
        if (known != null) {
            return known;
        }
        // Read after the schema change that gave the table this shape is committed (on another connection, maybe):
        // read before, the catalog lacks a column the stream sends, or still has one it dropped.
        beforeWrite.await(Math.max(writeAfter, shapeAfter.getOrDefault(r.oid(), 0L)));
        record Col(String name, String type, boolean alwaysIdentity) {
        }
        List<Col> cols = Queries.list(target, """
                SELECT a.attname, format_type(a.atttypid, -1), a.attidentity = 'a'
                FROM pg_attribute a
                WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped""",
                rs -> new Col(rs.getString(1), rs.getString(2), rs.getBoolean(3)), name(r));
        List<String> result = new ArrayList<>();
        boolean[] identity = new boolean[r.columns().size()];
        for (int i = 0; i < r.columns().size(); i++) {
            Column c = r.columns().get(i);
            Col col = cols.stream().filter(x -> x.name().equals(c.name())).findFirst()
                    .orElseThrow(() -> new SQLException(name(r) + " on the target has no column " + quote(c.name())
                            + ", which the source sends"));
            result.add(col.type());
            identity[i] = col.alwaysIdentity();
        }
        types.put(r.oid(), result);
        alwaysIdentity.put(r.oid(), identity);
        return result;
    }

    /** {@code OVERRIDING SYSTEM VALUE} when the stream sends a column that is an identity {@code ALWAYS} column here. */
    private String overriding(Relation r) {
        for (boolean b : alwaysIdentity.get(r.oid())) {
            if (b) {
                return " OVERRIDING SYSTEM VALUE";
            }
        }
        return "";
    }

    /**
     * An update cannot set an identity {@code ALWAYS} column (only {@code SET ... = DEFAULT}, which would draw a value
     * from the target's own sequence): such columns are left out of every update, which is right as long as the
     * source's update left them as they were. Where the old row's value is known and differs, the change is refused
     * rather than applied without it.
     */
    private void requireIdentityKept(Relation r, boolean[] identity, List<Value> old, List<Value> row)
            throws SQLException {
        for (int i = 0; i < identity.length; i++) {
            if (identity[i] && old.get(i) instanceof PgOutputMessage.Text a && row.get(i) instanceof PgOutputMessage.Text b
                    && !a.text().equals(b.text())) {
                throw new SQLException(name(r) + ": the source changed the value of column " + quote(r.columns().get(i)
                        .name()) + ", an identity column GENERATED ALWAYS on the target, which an update cannot set;"
                        + " make it GENERATED BY DEFAULT on the target (ALTER TABLE ... ALTER COLUMN ... SET GENERATED"
                        + " BY DEFAULT)", "428C9");
            }
        }
    }

    void insert(Relation r, TupleData row) throws SQLException {
        StringJoiner cols = new StringJoiner(", ");
        StringJoiner params = new StringJoiner(", ");
        for (Column c : r.columns()) {
            cols.add(quote(c.name()));
            params.add("?");
        }
        types(r); // knows the identity columns
        String sql = "INSERT INTO " + name(r) + " (" + cols + ")" + overriding(r) + " VALUES (" + params + ")";
        PreparedStatement ps = statement(sql);
        int p = 1;
        for (int i = 0; i < r.columns().size(); i++) {
            p = bind(ps, p, r, i, row.values().get(i));
        }
        add(ps, null);
    }

    void update(Relation r, Update u) throws SQLException {
        TupleData row = u.row();
        types(r); // knows the identity columns
        boolean[] identity = alwaysIdentity.get(r.oid());
        StringJoiner set = new StringJoiner(", ");
        List<Integer> setColumns = new ArrayList<>();
        for (int i = 0; i < r.columns().size(); i++) {
            if (row.values().get(i) != PgOutputMessage.Unchanged.INSTANCE && !identity[i]) {
                set.add(quote(r.columns().get(i).name()) + " = ?");
                setColumns.add(i);
            }
        }
        TupleData old = u.old() != null ? u.old() : row;
        requireIdentityKept(r, identity, old.values(), row.values());
        if (setColumns.isEmpty()) {
            return; // only identity columns, kept as they were
        }
        boolean full = u.oldKind() == 'O';
        Where where = where(r, old, full);
        String sql = "UPDATE " + name(r) + " SET " + set + " WHERE " + where.sql();
        PreparedStatement ps = statement(sql);
        int p = 1;
        for (int i : setColumns) {
            p = bind(ps, p, r, i, row.values().get(i));
        }
        where.bind(this, ps, p);
        add(ps, r);
    }

    void delete(Relation r, Delete d) throws SQLException {
        Where where = where(r, d.old(), d.oldKind() == 'O');
        PreparedStatement ps = statement("DELETE FROM " + name(r) + " WHERE " + where.sql());
        where.bind(this, ps, 1);
        add(ps, r);
    }

    /** The condition that finds the changed row: its key, or, for replica identity FULL, one row equal to the old. */
    private record Where(String sql, Relation relation, TupleData old, List<Integer> columns) {

        void bind(Applier applier, PreparedStatement ps, int from) throws SQLException {
            int p = from;
            for (int i : columns) {
                p = applier.bind(ps, p, relation, i, old.values().get(i));
            }
        }
    }

    private Where where(Relation r, TupleData old, boolean full) throws SQLException {
        List<Integer> columns = new ArrayList<>();
        StringJoiner cond = new StringJoiner(" AND ");
        for (int i = 0; i < r.columns().size(); i++) {
            Column c = r.columns().get(i);
            Value v = old.values().get(i);
            if (full ? v == PgOutputMessage.Unchanged.INSTANCE : !c.key()) {
                continue;
            }
            if (v == PgOutputMessage.Unchanged.INSTANCE) {
                throw new SQLException("the stream sent no value for key column " + c.name() + " of " + name(r));
            }
            if (v == PgOutputMessage.Null.INSTANCE) {
                cond.add(quote(c.name()) + " IS NULL");
            } else {
                cond.add(quote(c.name()) + " = ?");
                columns.add(i);
            }
        }
        if (columns.isEmpty() && cond.length() == 0) {
            throw new SQLException(name(r) + " has no replica identity the stream can find its rows by");
        }
        String sql = full
                // FULL: several rows may be equal; change exactly one, as the source did
                ? "ctid = (SELECT ctid FROM " + name(r) + " WHERE " + cond + " LIMIT 1)"
                : cond.toString();
        return new Where(sql, r, old, columns);
    }

    private void truncate(Truncate t) throws SQLException {
        requireTransaction("a truncate");
        StringJoiner tables = new StringJoiner(", ");
        for (int oid : t.relations()) {
            Relation r = relations.get(oid);
            if (r == null) {
                throw new SQLException("the stream truncated relation " + oid + " before describing it");
            }
            // ONLY keeps inheritance children out, as on the source; a partitioned table cannot be truncated ONLY,
            // and its partitions are what the source truncated with it
            boolean partitioned = Queries.exists(target, "SELECT 1 FROM pg_class WHERE oid = ?::regclass"
                    + " AND relkind = 'p'", name(r));
            tables.add((partitioned ? "" : "ONLY ") + name(r));
        }
        net.execute();
        sendBatch();
        beforeWrite.await(writeAfter);
        Queries.execute(target, "TRUNCATE " + tables + (t.restartIdentity() ? " RESTART IDENTITY" : ""));
    }

    private static String name(Relation r) {
        return quote(r.schema(), r.name());
    }

    private int bind(PreparedStatement ps, int p, Relation r, int column, Value v) throws SQLException {
        if (v instanceof PgOutputMessage.Text t) {
            ps.setObject(p, t.text(), Types.OTHER);
        } else if (v == PgOutputMessage.Null.INSTANCE) {
            ps.setNull(p, Types.OTHER);
        } else if (v == PgOutputMessage.Unchanged.INSTANCE) {
            throw new SQLException("no value for column " + r.columns().get(column).name() + " of " + name(r));
        } else {
            throw new SQLException("binary values are not requested from the stream");
        }
        return p + 1;
    }

    private PreparedStatement statement(String sql) throws SQLException {
        beforeWrite.await(writeAfter);
        if (batch != null && !batch.sql.equals(sql)) {
            sendBatch();
        }
        PreparedStatement ps = statements.get(sql);
        if (ps == null) {
            if (statements.size() >= MAX_STATEMENTS) {
                // a table without a key has a statement per pattern of NULL and unsent values: start over
                closeStatements();
            }
            ps = target.prepareStatement(sql);
            statements.put(sql, ps);
        }
        if (batch == null) {
            batch = new Batch(ps, sql, new ArrayList<>());
        }
        return ps;
    }

    private void add(PreparedStatement ps, Relation counted) throws SQLException {
        ps.addBatch();
        batch.rows.add(counted == null ? null : name(counted));
        if (batch.rows.size() >= 1000) {
            sendBatch();
        }
    }

    /** Sends the pending JDBC batch (its rows waited for their dependency when they were added). */
    void sendBatch() throws SQLException {
        if (batch == null) {
            return;
        }
        Batch b = batch;
        batch = null;
        int[] counts;
        try {
            counts = b.statement.executeBatch();
        } catch (SQLException e) {
            throw refused(b.sql, e.getNextException() != null ? e.getNextException() : e);
        }
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] == 0 && b.rows.get(i) != null && strict) {
                throw new SQLException(database + ": an update or delete found no row in " + b.rows.get(i)
                        + " while applying on several connections", "P0002");
            }
            if (counts[i] == 0 && b.rows.get(i) != null) {
                // PostgreSQL's apply worker logs the same and goes on: the row was not on the target
                if (missingRows.incrementAndGet() <= 10) {
                    LOG.warn("{}: an update or delete from the source found no row in {} on the target", database,
                            b.rows.get(i));
                }
            }
        }
    }

    /**
     * The target's refusal without row values: the server's message may quote one ({@code invalid input syntax for
     * type integer: "..."}), so the error carries the statement (table and columns), the SQLSTATE and the names the
     * server reports, and not the server's exception as its cause.
     */
    private SQLException refused(String sql, SQLException e) {
        StringBuilder b = new StringBuilder(database).append(": the target refused ").append(sql)
                .append(" (SQLSTATE ").append(e.getSQLState());
        if (e instanceof org.postgresql.util.PSQLException p && p.getServerErrorMessage() != null) {
            org.postgresql.util.ServerErrorMessage m = p.getServerErrorMessage();
            if (m.getConstraint() != null) {
                b.append(", constraint ").append(m.getConstraint());
            }
            if (m.getColumn() != null) {
                b.append(", column ").append(m.getColumn());
            }
            if (m.getDatatype() != null) {
                b.append(", type ").append(m.getDatatype());
            }
        } else if (e.getSQLState() == null || e.getSQLState().startsWith("08")) {
            b.append(", ").append(e.getMessage()); // a broken connection: the driver's words, no row values
        }
        return new SQLException(b.append(')').toString(), e.getSQLState());
    }

    private void closeStatements() {
        if (recordPosition != null) {
            statements.put("", recordPosition);
            recordPosition = null;
        }
        for (PreparedStatement ps : statements.values()) {
            try {
                ps.close();
            } catch (SQLException e) {
                LOG.debug("{}: closing a statement: {}", database, e.getMessage());
            }
        }
        statements.clear();
    }

    /** Rolls back what is not committed and closes the statements; the connection stays the caller's. */
    @Override
    public void close() {
        batch = null;
        closeStatements();
        try {
            if (!target.isClosed() && !target.getAutoCommit()) {
                target.rollback();
            }
        } catch (SQLException e) {
            LOG.debug("{}: rolling back the apply transaction: {}", database, e.getMessage());
        }
    }
}
