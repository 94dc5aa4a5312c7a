package io.pgmigrate.core.internal.ddl;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.core.internal.Mdc;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import io.pgmigrate.core.internal.sql.TableLocks;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;
import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Carries schema changes (DDL) between the two sides of one database, in order with the data.
 *
 * <p>On the side that takes writes, an event trigger ({@code ddl_command_end}) records each statement the application
 * runs in a queue table of the migration's own schema, in the statement's own transaction: the text the client sent,
 * the role and {@code search_path} it ran with, and the form the other side replays (transaction control dropped,
 * {@code CONCURRENTLY} removed, since a replayed statement runs inside the stream's transaction). A statement text that
 * also holds something the stream carries as data, or that DDL ran inside a function or a {@code DO} block, is
 * recorded without a replayable form. In the same transaction, every table that the stream should now carry (a new
 * table, a detached partition) joins the publication, and every table gets the fence's trigger.
 *
 * <p>The queue is published like any table. On the side the stream applies to, an {@code ENABLE ALWAYS} trigger on it
 * executes each row's statement inside the applying transaction (the apply worker's for NATIVE, the worker's
 * connection for STREAM), as the role it ran as, where the row comes in the stream: data after it sees the new schema.
 * A statement that fails, or that has no replayable form, raises an error naming it: the stream stops there, never
 * skips it, until the server is fixed (then the stream tries again) or the change is made by hand and the row marked
 * resolved ({@code Migration.applyOnFencedSide}).
 */
public final class DdlCarry {

    private static final Logger LOG = LoggerFactory.getLogger(DdlCarry.class);

    private final Sessions sessions;
    private final String database;
    private final String schema;
    private final Journal.DatabaseEntry journal;
    private final boolean freeze;

    /** How long installing or removing the partitions' triggers waits for their locks, all together. */
    private static final java.time.Duration LOCK_BOUND = java.time.Duration.ofSeconds(30);

    /**
     * @param schema the migration's DDL schema in the database, on both sides; its event trigger has the same name
     * @param freeze whether schema changes are refused on both sides instead of carried
     *               ({@link io.pgmigrate.SchemaChanges#FREEZE})
     */
    public DdlCarry(Sessions sessions, String database, String schema, Journal.DatabaseEntry journal, boolean freeze) {
        this.sessions = sessions;
        this.database = database;
        this.schema = schema;
        this.journal = journal;
        this.freeze = freeze;
    }

    /** Whether schema changes are refused instead of carried. */
    public boolean freezes() {
        return freeze;
    }

    /** The queue table, which the stream carries in both directions. */
    public TableRef queue() {
        return new TableRef(schema, "queue");
    }

    /**
     * The statements that create (or bring up to date) the objects in {@code schema} on one side, the event trigger
     * disabled: for tests and tools that drive a stream themselves.
     *
     * @param side the side's name as rows recorded there carry it ({@code source} or {@code target})
     */
    public static java.util.List<String> objects(String schema, String side, String publication, String fence,
                                                 boolean viaRoot, boolean lateJoin) {
        return DdlSql.objects(schema, side, publication, fence, viaRoot, lateJoin, false);
    }

    /** Whether {@code schema} is a DDL schema of some migration: its queue is pgmigrate's, not the application's. */
    public static boolean isQueue(String schema, String table) {
        return "queue".equals(table) && schema.startsWith("pgmigrate_") && schema.endsWith("_ddl");
    }

    private static Flag flag(Side side) {
        return side == Side.SOURCE ? Flag.SOURCE_DDL : Flag.TARGET_DDL;
    }

    /**
     * Creates (or brings up to date) the schema, the queue, the functions and the event trigger on {@code side},
     * without changing whether the event trigger is enabled; a new one starts disabled. Returns false, creating
     * nothing, where the migration role is not a superuser: only a superuser can create an event trigger.
     *
     * @param publication the publication that {@code side} publishes through when it takes writes
     * @param fence       the fence's schema on {@code side}, whose trigger new tables get when it is there
     * @param viaRoot     whether both servers publish partitioned tables as themselves (13 and later)
     * @param lateJoin    whether a table may join the stream after its creation (NATIVE)
     */
    public boolean install(Side side, String publication, String fence, boolean viaRoot, boolean lateJoin) {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            Connection c = sessions.get(side, database);
            try {
                if (!Queries.exists(c, "SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper")) {
                    return false;
                }
                if (Queries.exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)
                        && !journal.flag(flag(side))) {
                    throw new PgMigrateException(CoreErrorCode.NAME_COLLISION, database, "a schema named " + schema
                            + " exists on the " + sessions.connector(side).role() + " and was not created by this"
                            + " migration; give the migration another name(...), or if it is a leftover: DROP SCHEMA "
                            + quote(schema) + " CASCADE");
                }
                journal.mark(flag(side));
                Queries.inTransaction(c, () -> {
                    for (String sql : DdlSql.objects(schema, side.name().toLowerCase(java.util.Locale.ROOT),
                            publication, fence, viaRoot, lateJoin, freeze)) {
                        Queries.execute(c, sql);
                    }
                });
                // each partition's TRUNCATE trigger in a transaction of its own, waiting briefly for its lock: one
                // transaction over every partition would hold writes to each until the last lock came
                long deadline = System.nanoTime() + LOCK_BOUND.toNanos();
                for (String[] t : Queries.list(c, "SELECT format('%I.%I', nsp, rel), " + quote(schema)
                        + ".truncate_trigger(nsp, rel) FROM " + quote(schema) + ".partitions_to_follow()",
                        rs -> new String[]{rs.getString(1), rs.getString(2)})) {
                    TableLocks.run(c, deadline, database, "the " + sessions.connector(side).role(), "give partition "
                            + t[0] + " the trigger that carries its TRUNCATE", CoreErrorCode.REPLICATION_FAILED,
                            () -> Queries.execute(c, t[1]));
                }
                LOG.debug("{}: DDL capture installed on the {}", database, sessions.connector(side).role());
                return true;
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot install the DDL capture"
                        + " on the " + sessions.connector(side).role(), e);
            }
        }
    }

    /**
     * Holds schema changes on {@code side} until closed: each one is refused ("try again in a few seconds") instead of
     * recorded. Returns once every transaction that could still commit a change unseen has ended: those that made one
     * while recording was off, and those recorded but not yet committed. For {@code start()}: the schema it reads and
     * the stream's start must not have a change between them, which would be in neither. The capture must be on.
     */
    public Hold hold(Side side) {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            Connection c = sessions.fresh(side, database);
            try {
                // A CONCURRENTLY command commits its first steps on its own: refused at its end (where the capture
                // runs) it would leave an invalid index or a partition half detached. So none may run once the lock is
                // held (new ones are refused at their start then): wait for them, and again if one began meanwhile.
                String lock = DdlSql.HOLD_CLASS + ", " + DdlSql.holdKey(schema);
                while (true) {
                    waitWhile(c, side, CONCURRENT_COMMANDS, "CONCURRENTLY commands");
                    // waits for the transactions that recorded a change, which hold the lock shared
                    Queries.execute(c, "SELECT pg_advisory_lock(" + lock + ")");
                    if (!Queries.first(c, CONCURRENT_COMMANDS, rs -> rs.getBoolean(1)).orElse(false)) {
                        break;
                    }
                    Queries.execute(c, "SELECT pg_advisory_unlock(" + lock + ")");
                }
                long held = Queries.first(c, "SELECT txid_current()", rs -> rs.getLong(1)).orElseThrow();
                // a change made before recording was on took no lock: wait for every transaction older than this one
                waitWhile(c, side, "SELECT txid_snapshot_xmin(txid_current_snapshot()) < " + held,
                        "transactions that began before schema changes were held");
                LOG.debug("{}: schema changes on the {} are held", database, sessions.connector(side).role());
                return new Hold(c);
            } catch (SQLException | RuntimeException e) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // the session's lock ends with it
                }
                if (e instanceof RuntimeException r) {
                    throw r;
                }
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot hold schema"
                        + " changes on the " + sessions.connector(side).role(), (SQLException) e);
            }
        }
    }

    /** Whether a {@code CONCURRENTLY} command that changes the schema runs in the database. */
    private static final String CONCURRENT_COMMANDS = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
            + " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
            + " AND query ~* '\\m(CREATE\\s+(UNIQUE\\s+)?INDEX|DROP\\s+INDEX)\\s+CONCURRENTLY\\M"
            + "|\\mDETACH\\s+PARTITION\\M.*\\mCONCURRENTLY\\M')";

    /**
     * Waits while {@code condition} (a query of one boolean) holds, naming what it waits for every 10 s: the
     * sessions with a transaction or a statement running, and prepared transactions.
     */
    private void waitWhile(Connection c, Side side, String condition, String what) throws SQLException {
        long since = System.nanoTime();
        long told = since;
        while (Queries.first(c, condition, rs -> rs.getBoolean(1)).orElse(false)) {
            if (System.nanoTime() - told > java.util.concurrent.TimeUnit.SECONDS.toNanos(10)) {
                told = System.nanoTime();
                List<String> running = Queries.list(c, "SELECT pid || ' (' || coalesce(usename, '') || ', since '"
                        + " || coalesce(xact_start, query_start)::text || ')' FROM pg_stat_activity"
                        + " WHERE (backend_xid IS NOT NULL OR state <> 'idle') AND pid <> pg_backend_pid()"
                        + " UNION ALL SELECT 'prepared transaction ' || gid FROM pg_prepared_xacts",
                        rs -> rs.getString(1));
                LOG.info("{}: start() waits for {} on the {} ({} s so far; schema changes are held meanwhile): {}",
                        database, what, sessions.connector(side).role(), (told - since) / 1_000_000_000L, running);
            }
            io.pgmigrate.core.internal.Waits.pause(50, database);
        }
    }

    /** Schema changes held on one side; closing lets them through again. */
    public static final class Hold implements AutoCloseable {
        private final Connection session;

        private Hold(Connection session) {
            this.session = session;
        }

        /** Lets schema changes through again (the lock is the session's: it ends with it). */
        @Override
        public void close() {
            try {
                session.close();
            } catch (SQLException e) {
                LOG.debug("closing the session that held schema changes failed: {}", e.getMessage());
            }
        }
    }

    /** Whether the objects are on {@code side}. */
    public boolean installed(Side side) {
        try {
            return Queries.exists(sessions.get(side, database), "SELECT 1 FROM pg_event_trigger WHERE evtname = ?",
                    schema);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the DDL capture failed",
                    e);
        }
    }

    /**
     * Records the statements run on {@code side} from now on, or stops recording them. With a freeze, turns the
     * refusal on; it stays on until {@link #remove}.
     */
    public void capture(Side side, boolean on) {
        if (freeze && !on) {
            return;
        }
        try (Mdc.Scope onSide = Mdc.side(side)) {
            Connection c = sessions.get(side, database);
            try {
                if (Queries.exists(c, "SELECT 1 FROM pg_event_trigger WHERE evtname = ANY (?) AND evtenabled <> ?",
                        c.createArrayOf("text", DdlSql.eventTriggers(schema).toArray()), on ? "O" : "D")) {
                    Queries.inTransaction(c, () -> {
                        for (String trigger : DdlSql.eventTriggers(schema)) {
                            Queries.execute(c, "ALTER EVENT TRIGGER " + quote(trigger) + (on ? " ENABLE" : " DISABLE"));
                        }
                    });
                    LOG.info("{}: schema changes on the {} are {}", database, sessions.connector(side).role(),
                            freeze ? "refused until the migration completes"
                                    : on ? "carried to the other side from now on" : "no longer recorded");
                }
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot "
                        + (on ? "enable" : "disable") + " the DDL capture on the " + sessions.connector(side).role(),
                        e);
            }
        }
    }

    /**
     * The first statement recorded on {@code from} that {@code to} has not applied yet, as "#id (tag): statement",
     * or empty when {@code to} has every one. The stream applies them in order, so while it is stopped this is the
     * one it stopped at.
     */
    public Optional<Pending> next(Side from, Side to) {
        try {
            return next(sessions.get(from, database), sessions.get(to, database), schema,
                    from.name().toLowerCase(java.util.Locale.ROOT));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the DDL queue failed",
                    e);
        }
    }

    /**
     * {@link #next(Side, Side)} over two connections to the database, {@code a} on the side recorded on (whose rows
     * carry {@code origin}) and {@code b} on the other, for callers without the migration's sessions (preflight).
     * Empty when either side lacks the schema.
     */
    public static Optional<Pending> next(Connection a, Connection b, String schema, String origin) throws SQLException {
        if (!Queries.exists(a, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)
                || !Queries.exists(b, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)) {
            return Optional.empty();
        }
        long applied = applied(a, b, schema, origin);
        return Queries.first(a, "SELECT id, tag, " + quote(schema) + ".shown(tag, statement), replay IS NOT NULL,"
                        + " coalesce(reason, '') FROM " + quote(schema, "queue") + " WHERE origin = ? AND id > ?"
                        + " ORDER BY id LIMIT 1",
                rs -> new Pending(origin, rs.getLong(1), rs.getString(2), rs.getString(3), rs.getBoolean(4),
                        rs.getString(5)), origin, applied);
    }

    /**
     * The last statement recorded on {@code a} that {@code b} has: the stream can still bring those after it, after
     * what {@code b} has and after where the stream started (rows recorded before it, such as between the capture
     * and the slot, never travel).
     */
    private static long applied(Connection a, Connection b, String schema, String origin) throws SQLException {
        return Math.max(Queries.first(b, "SELECT coalesce(max(id), 0) FROM " + quote(schema, "queue")
                + " WHERE origin = ?", rs -> rs.getLong(1), origin).orElse(0L), Queries.first(a,
                "SELECT coalesce(max(stream_from), 0) FROM " + quote(schema, "settings"), rs -> rs.getLong(1))
                .orElse(0L));
    }

    /**
     * Whether {@code from} recorded a schema change (not merely a partition's {@code TRUNCATE}) that {@code to} lacks
     * ({@link #next}).
     */
    public boolean missesSchemaChanges(Side from, Side to) {
        try {
            Connection a = sessions.get(from, database);
            Connection b = sessions.get(to, database);
            if (!Queries.exists(a, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)
                    || !Queries.exists(b, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)) {
                return false;
            }
            String origin = from.name().toLowerCase(java.util.Locale.ROOT);
            return Queries.exists(a, "SELECT 1 FROM " + quote(schema, "queue") + " WHERE origin = ? AND id > ?"
                    + " AND tag <> 'TRUNCATE'", origin, applied(a, b, schema, origin));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the DDL queue failed",
                    e);
        }
    }

    /**
     * Replays on {@code to}, in order, every statement recorded on {@code from} that the stream should have brought
     * there but has not (the rows {@link #next} finds), outside any stream: each row is inserted into {@code to}'s
     * queue in replica mode, one transaction each, where the queue's trigger replays it as the stream would have. For
     * a copy that starts from the beginning on a new slot: the statements recorded since the schema was read for
     * {@code to} are in neither that schema nor the new slot's stream. Schema changes must be held on
     * {@code from} meanwhile ({@link #hold}). A statement that fails stops here, named, with nothing after it replayed;
     * those before it stay replayed, so a later call goes on after them.
     *
     * @return how many statements were replayed
     */
    public int replayMissed(Side from, Side to) {
        String origin = from.name().toLowerCase(java.util.Locale.ROOT);
        int replayed = 0;
        try (Mdc.Scope onSide = Mdc.side(to)) {
            Connection a = sessions.get(from, database);
            Connection b = sessions.get(to, database);
            Optional<Pending> pending;
            while ((pending = next(a, b, schema, origin)).isPresent()) {
                long id = pending.get().id();
                String columns = "origin, id, ran_at, role, search_path, tag, statement, replay, reason, timezone,"
                        + " datestyle, intervalstyle";
                List<Object[]> row = Queries.list(a, "SELECT " + columns + " FROM " + quote(schema, "queue")
                        + " WHERE origin = ? AND id = ?", rs -> {
                            Object[] values = new Object[12];
                            for (int i = 0; i < values.length; i++) {
                                values[i] = rs.getObject(i + 1);
                            }
                            return values;
                        }, origin, id);
                try {
                    Queries.inTransaction(b, () -> {
                        Queries.execute(b, "SET LOCAL session_replication_role = replica");
                        try (java.sql.PreparedStatement insert = b.prepareStatement("INSERT INTO "
                                + quote(schema, "queue") + " (" + columns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                                + " ?, ?)")) {
                            Object[] values = row.get(0);
                            for (int i = 0; i < values.length; i++) {
                                insert.setObject(i + 1, values[i]);
                            }
                            insert.executeUpdate();
                        }
                    });
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.SCHEMA_COPY_FAILED, database, "the schema change "
                            + pending.get().describe() + ", made on the " + sessions.connector(from).role()
                            + " while the copy ran before, fails on the " + sessions.connector(to).role()
                            + ", where the copy starts again; fix that and call start() again, or make the change"
                            + " there by hand and mark it resolved as the error's hint says", e);
                }
                replayed++;
            }
            if (replayed > 0) {
                LOG.info("{}: replayed on the {} the {} schema changes made on the {} since the copy first began",
                        database, sessions.connector(to).role(), replayed, sessions.connector(from).role());
            }
            return replayed;
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the DDL queue failed",
                    e);
        }
    }

    /**
     * Marks the partitioned ones among {@code tables} on {@code publisher} as copied by the other side's table
     * synchronisation from now on (as the capture marks those that join late): the {@code TRUNCATE} of one of their
     * partitions is refused until {@link #joined} sees the copy done, since its replay could not be placed right
     * against that copy's position.
     */
    public void joining(Side publisher, List<TableRef> tables) {
        try {
            Connection c = sessions.get(publisher, database);
            if (tables.isEmpty() || !Queries.exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)) {
                return;
            }
            for (TableRef t : tables) {
                Queries.list(c, "INSERT INTO " + quote(schema, "joining") + " (root) SELECT c.oid FROM pg_class c"
                        + " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?"
                        + " AND c.relkind = 'p' ON CONFLICT DO NOTHING RETURNING root", rs -> null, t.schema(),
                        t.name());
            }
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot mark the partitioned"
                    + " tables that the table synchronisation copies", e);
        }
    }

    /**
     * Lifts {@link #joining}'s mark from the partitioned tables that {@code subscription} on {@code subscriber} has
     * copied (ready), and from those dropped since.
     *
     * @return how many marks are left
     */
    public int joined(Side publisher, Connection subscriber, String subscription) throws SQLException {
        Connection c = sessions.get(publisher, database);
        if (!Queries.exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)) {
            return 0;
        }
        record Mark(long root, String schema, String name) { }
        List<Mark> marks = Queries.list(c, "SELECT j.root, n.nspname, r.relname FROM " + quote(schema, "joining") + " j"
                + " LEFT JOIN pg_class r ON r.oid = j.root LEFT JOIN pg_namespace n ON n.oid = r.relnamespace",
                rs -> new Mark(rs.getLong(1), rs.getString(2), rs.getString(3)));
        // by name, so only once the subscriber has every statement recorded so far: a table renamed and another
        // created with its name would otherwise pass for the one the subscriber has ready
        if (marks.isEmpty()
                || next(c, subscriber, schema, publisher.name().toLowerCase(java.util.Locale.ROOT)).isPresent()) {
            return marks.size();
        }
        int left = 0;
        for (Mark m : marks) {
            boolean done = m.name() == null || Queries.exists(subscriber, "SELECT 1 FROM pg_subscription_rel sr"
                    + " JOIN pg_subscription s ON s.oid = sr.srsubid JOIN pg_class r ON r.oid = sr.srrelid"
                    + " JOIN pg_namespace n ON n.oid = r.relnamespace WHERE s.subname = ? AND s.subdbid = (SELECT oid"
                    + " FROM pg_database WHERE datname = current_database()) AND n.nspname = ? AND r.relname = ?"
                    + " AND sr.srsubstate = 'r'", subscription, m.schema(), m.name());
            if (done) {
                Queries.execute(c, "DELETE FROM " + quote(schema, "joining") + " WHERE root = " + m.root());
                LOG.info("{}: {} is copied to the other side; TRUNCATE of its partitions is carried again", database,
                        m.name() == null ? "a partitioned table since dropped" : m.schema() + "." + m.name());
            } else {
                left++;
            }
        }
        return left;
    }

    /**
     * Records on the source, with its schema just read (under {@link #hold}) for a copy that creates it on the
     * target, what follows that schema's data ({@code afterData}: kind to statements) and that the target has every
     * statement recorded so far with it, in one transaction. Taken before the target's schema is created, so that a
     * process that ends in between leaves the next one to read and record both again; once created there, they stay:
     * a later start() replays from this position ({@link #replayMissed}) and builds what follows the data as read here.
     */
    public void schemaRead(java.util.Map<String, List<String>> afterData, List<TableRef> tables) {
        java.util.Map<String, List<String>> rows = new java.util.LinkedHashMap<>(afterData);
        rows.put(READ, List.of("")); // also when nothing follows the data
        rows.put(TABLE, tables.stream().map(TableRef::quoted).toList());
        try {
            Connection c = sessions.get(Side.SOURCE, database);
            Queries.inTransaction(c, () -> {
                Queries.execute(c, "DELETE FROM " + quote(schema, "after_data_plan"));
                try (java.sql.PreparedStatement insert = c.prepareStatement("INSERT INTO "
                        + quote(schema, "after_data_plan") + " (kind, ord, statement) VALUES (?, ?, ?)")) {
                    for (java.util.Map.Entry<String, List<String>> part : rows.entrySet()) {
                        for (int i = 0; i < part.getValue().size(); i++) {
                            insert.setString(1, part.getKey());
                            insert.setInt(2, i);
                            insert.setString(3, part.getValue().get(i));
                            insert.addBatch();
                        }
                    }
                    insert.executeBatch();
                }
                streamStartsNow(c);
            });
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot record the schema"
                    + " read for the copy", e);
        }
    }

    /** {@link #schemaRead}'s kinds of its own: that it ran, and the tables it read. */
    private static final String READ = "read";
    private static final String TABLE = "table";

    /**
     * Whether the target has every table of the schema {@link #schemaRead} recorded: an earlier start() created it
     * there (in one transaction) from that read, and ended before its copy was recorded.
     */
    public boolean readApplied(Connection target) {
        try {
            List<String> tables = afterDataPlan().map(p -> p.getOrDefault(TABLE, List.of())).orElse(List.of());
            if (tables.isEmpty()) {
                return false;
            }
            for (String t : tables) {
                if (Queries.string(target, "SELECT to_regclass(?)::text", t) == null) {
                    return false;
                }
            }
            return true;
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the target's tables"
                    + " failed", e);
        }
    }

    /** What {@link #schemaRead} recorded to follow the data (kind to statements), if anything. */
    public Optional<java.util.Map<String, List<String>>> afterDataPlan() {
        try {
            Connection c = sessions.get(Side.SOURCE, database);
            if (Queries.string(c, "SELECT to_regclass(?)::text", quote(schema, "after_data_plan")) == null) {
                return Optional.empty();
            }
            java.util.Map<String, List<String>> plan = new java.util.HashMap<>();
            Queries.list(c, "SELECT kind, statement FROM " + quote(schema, "after_data_plan") + " ORDER BY kind, ord",
                    rs -> plan.computeIfAbsent(rs.getString(1), k -> new java.util.ArrayList<>()).add(rs.getString(2)));
            return plan.isEmpty() ? Optional.empty() : Optional.of(plan);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading what follows the"
                    + " data failed", e);
        }
    }

    /**
     * Records on {@code publisher} that its stream starts after every statement recorded there so far: called once
     * the stream's start is set (the copy's slot created, the way back's slot moved), so that statements from before
     * it, which never travel, are not taken for ones the stream stopped at.
     */
    public void streamStarts(Side publisher) {
        try {
            Connection c = sessions.get(publisher, database);
            if (Queries.exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = ?", schema)) {
                streamStartsNow(c);
            }
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot record where the"
                    + " stream of schema changes starts", e);
        }
    }

    private void streamStartsNow(Connection c) throws SQLException {
        Queries.execute(c, "UPDATE " + quote(schema, "settings") + " s SET stream_from = coalesce((SELECT"
                + " max(q.id) FROM " + quote(schema, "queue") + " q WHERE q.origin = s.side), 0)");
    }

    /**
     * A recorded statement the other side has not applied; {@code statement} is its text as messages may show it
     * (withheld where it may hold a password).
     */
    public record Pending(String origin, long id, String tag, String statement, boolean replayable, String reason) {

        /** One line for a person: which statement, and why it may not apply. */
        public String describe() {
            String text = statement.strip().replaceAll("\\s+", " ");
            return "#" + id + " (" + tag + "): " + (text.length() > 300 ? text.substring(0, 300) + "..." : text)
                    + (replayable ? "" : " [" + reason + "]");
        }
    }

    /**
     * Marks the statement {@code pending} as made by hand on {@code side}: the stream skips it there. Returns false
     * when the row was marked already.
     */
    public boolean resolve(Side side, Pending pending) {
        try {
            return !Queries.list(sessions.get(side, database), "INSERT INTO " + quote(schema, "resolved")
                            + " (origin, id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING id", rs -> rs.getLong(1),
                    pending.origin(), pending.id()).isEmpty();
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot mark DDL #" + pending.id()
                    + " resolved", e);
        }
    }

    /** Whether the stream brought {@code pending} to {@code side} (applied, or skipped as resolved). */
    public boolean arrived(Side side, Pending pending) {
        try {
            return Queries.exists(sessions.get(side, database), "SELECT 1 FROM " + quote(schema, "queue")
                    + " WHERE origin = ? AND id >= ?", pending.origin(), pending.id());
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the DDL queue failed",
                    e);
        }
    }

    /** Drops the event trigger and the schema from {@code side}. */
    public void remove(Side side) {
        if (!journal.flag(flag(side))) {
            return;
        }
        try (Mdc.Scope onSide = Mdc.side(side)) {
            Connection c = sessions.get(side, database);
            // the event triggers first: a freeze ends here, even if a partition's lock holds up the rest
            Queries.inTransaction(c, () -> {
                for (String trigger : DdlSql.eventTriggers(schema)) {
                    Queries.execute(c, "DROP EVENT TRIGGER IF EXISTS " + quote(trigger));
                }
            });
            // dropping a trigger locks its table exclusively: one table per transaction, waiting briefly
            long deadline = System.nanoTime() + LOCK_BOUND.toNanos();
            for (String table : Queries.list(c, "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_trigger g"
                    + " JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                    + " WHERE g.tgname = ? ORDER BY 1", rs -> rs.getString(1), schema)) {
                TableLocks.run(c, deadline, database, "the " + sessions.connector(side).role(), "remove the trigger"
                        + " that carries the TRUNCATE of " + table, CoreErrorCode.REPLICATION_FAILED,
                        () -> Queries.execute(c, "DROP TRIGGER IF EXISTS " + quote(schema) + " ON " + table));
            }
            Queries.inTransaction(c, () -> {
                Queries.execute(c, "SET LOCAL lock_timeout = " + literal("5s"));
                Queries.execute(c, "DROP SCHEMA IF EXISTS " + quote(schema) + " CASCADE");
            });
            journal.unmark(flag(side));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot remove the DDL capture from"
                    + " the " + sessions.connector(side).role(), e);
        }
    }
}
