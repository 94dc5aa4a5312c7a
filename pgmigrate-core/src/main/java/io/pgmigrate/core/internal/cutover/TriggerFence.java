package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Fence;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.core.internal.Mdc;
import io.pgmigrate.core.internal.Waits;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import io.pgmigrate.core.internal.sql.TableLocks;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;
import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * A fence made of a statement-level trigger on every table of the database (and, for a superuser, an event trigger on
 * DDL), all calling one guard function in a schema of the migration's own. The triggers are installed ahead of the
 * cutover with an inert guard; engaging replaces the guard's body, which takes no table lock and so costs a
 * millisecond, then drains or terminates every transaction that began before (they may hold the inert guard in their
 * plan cache), and proves the fence from a fresh session.
 *
 * <p>A session setting cannot get around it: the guard raises SQLSTATE 25006 whatever {@code
 * default_transaction_read_only} says. It lets through only sessions holding the migration's session key (the guard
 * compares a SHA-256 of the key, so reading the function's source does not reveal it) and replication apply workers,
 * which run in replica mode where ordinary triggers do not fire, so a stream into the fenced side keeps working.
 */
public final class TriggerFence implements Fence {

    private static final Logger LOG = LoggerFactory.getLogger(TriggerFence.class);

    /** The custom setting the migration's sessions carry their key in. */
    public static final String KEY_SETTING = "pgmigrate.session";

    /** Tables a fence covers: every table outside the system schemas and the migrations' own schemas. */
    static final String USER_TABLES = """
            SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' AND n.nspname NOT LIKE 'pgmigrate\\_%'
            """;

    private static final Duration INSTALL_BOUND = Duration.ofSeconds(30);

    private final Sessions sessions;
    private final Side side;
    private final String database;
    private final String name;
    private final String migration;
    private final String keyHash;
    private final Duration drainTimeout;
    private final Journal.DatabaseEntry journal;
    private final String[] ownSubscriptions;
    private final String[] ownSlots;
    private final boolean guardDdl;
    private volatile Instant engagedAt;
    private volatile Instant liftedAt;

    /**
     * @param name         the schema, trigger and event trigger name ({@code pgmigrate_<name>_<db>_fence})
     * @param keyHash      hex SHA-256 of the session key the migration's sessions carry
     * @param drainTimeout     how long transactions begun before the fence may run on before they are terminated
     * @param ownSubscriptions the migration's subscriptions, whose apply workers the drain leaves alone
     * @param ownSlots         the migration's slots, whose walsenders the drain leaves alone
     * @param guardDdl         whether a superuser's fence also refuses DDL (an event trigger); the target's fence
     *                         while it only receives the stream leaves DDL alone
     */
    public TriggerFence(Sessions sessions, Side side, String database, String name, String migration, String keyHash,
                        Duration drainTimeout, Journal.DatabaseEntry journal, List<String> ownSubscriptions,
                        List<String> ownSlots, boolean guardDdl) {
        this.sessions = sessions;
        this.side = side;
        this.database = database;
        this.name = name;
        this.migration = migration;
        this.keyHash = keyHash;
        this.drainTimeout = drainTimeout;
        this.journal = journal;
        this.ownSubscriptions = ownSubscriptions.toArray(String[]::new);
        this.ownSlots = ownSlots.toArray(String[]::new);
        this.guardDdl = guardDdl;
    }

    private Flag flag() {
        return Flag.fence(side);
    }

    @Override
    public Side side() {
        return side;
    }

    @Override
    public String database() {
        return database;
    }

    @Override
    public Optional<Instant> engagedAt() {
        return Optional.ofNullable(engagedAt);
    }

    @Override
    public Optional<Instant> liftedAt() {
        return Optional.ofNullable(liftedAt);
    }

    /**
     * Installs the triggers with an inert guard on every table that lacks one, one table per transaction: holding one
     * table's lock while waiting for another's could deadlock with an application that takes them in the other order.
     * Each lock is awaited with a short timeout and retried, so a long transaction delays the installation, not the
     * application. Leaves an engaged fence engaged.
     */
    @Override
    public void prepare() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            Connection c = sessions.get(side, database);
            try {
                boolean schemaExists = Queries.exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = ?", name);
                if (schemaExists && !journal.flag(flag())) {
                    throw new PgMigrateException(CoreErrorCode.NAME_COLLISION, database, "a schema named " + name + " exists on the "
                            + sessions.connector(side).role() + " and was not created by this migration; give the migration"
                            + " another name(...), or if it is a leftover: DROP SCHEMA " + quote(name) + " CASCADE");
                }
                journal.mark(flag());
                boolean superuser = Queries.exists(c, "SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper");
                Queries.inTransaction(c, () -> installGuards(c, superuser && guardDdl));
                long deadline = System.nanoTime() + INSTALL_BOUND.toNanos();
                int created = 0;
                for (String table : Queries.list(c, USER_TABLES + """
                          AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = ?)
                        """, rs -> quote(rs.getString(1), rs.getString(2)), name)) {
                    withTableLock(c, deadline, "install the fence on " + table, () -> Queries.execute(c,
                            "CREATE TRIGGER " + quote(name) + " BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON " + table
                                    + " FOR EACH STATEMENT EXECUTE FUNCTION " + guard()));
                    created++;
                }
                // A trigger someone disabled (or set to fire in replica mode, where it would stop the stream) is put back.
                for (String table : Queries.list(c, USER_TABLES + """
                          AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = ?
                                      AND t.tgenabled <> 'O')
                        """, rs -> quote(rs.getString(1), rs.getString(2)), name)) {
                    withTableLock(c, deadline, "enable the fence on " + table, () -> Queries.execute(c,
                            "ALTER TABLE " + table + " ENABLE TRIGGER " + quote(name)));
                    created++;
                }
                LOG.debug("{}: fence installed on the {} ({} table triggers created or enabled)", database,
                        sessions.connector(side).role(), created);
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, database, "cannot install the fence on the "
                        + sessions.connector(side).role() + " (it needs CREATE on the database and TRIGGER on every table)", e);
            }
        }
    }

    /** The schema, the guards (re-keyed when engaged) and, for a superuser, the event trigger. */
    private void installGuards(Connection c, boolean superuser) throws SQLException {
        // A fence engaged by a process that died holds another key: its DDL guard would refuse the statements below.
        boolean ddlFence = Queries.exists(c, "SELECT 1 FROM pg_event_trigger WHERE evtname = ?", name);
        if (ddlFence) {
            Queries.execute(c, "ALTER EVENT TRIGGER " + quote(name) + " DISABLE");
        }
        Queries.execute(c, "CREATE SCHEMA IF NOT EXISTS " + quote(name));
        Optional<Boolean> engaged = guardEngaged(c);
        if (engaged.isEmpty()) {
            replaceGuards(c, false);
        } else if (engaged.get()) {
            replaceGuards(c, true); // take over a fence engaged under another key
        }
        if (ddlFence) {
            Queries.execute(c, "ALTER EVENT TRIGGER " + quote(name) + " ENABLE");
        } else if (superuser) {
            Queries.execute(c, "CREATE EVENT TRIGGER " + quote(name) + " ON ddl_command_start EXECUTE FUNCTION "
                    + ddlGuard());
        }
    }

    /**
     * Runs {@code work} (which locks one table) in its own transaction with a short lock timeout, retrying until
     * {@code deadline}; autovacuum is asked to yield between attempts.
     */
    private void withTableLock(Connection c, long deadline, String what, Queries.SqlWork work) throws SQLException {
        TableLocks.run(c, deadline, database, "the " + sessions.connector(side).role(), what,
                CoreErrorCode.CUTOVER_FAILED, work);
    }

    private static final String GUARD_EXISTS = """
            SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = ? AND p.proname = 'guard'
            """;

    @Override
    public void engage() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            prepare();
            engageInstalled();
        }
    }

    /**
     * Engages a fence whose triggers {@link #prepare()} has put in place: the part of {@link #engage()} that belongs in
     * the write-unavailable window. A table that lacks its trigger fails the verification, which lifts the fence.
     */
    public void engageInstalled() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            Instant start = Instant.now();
            Connection c = sessions.get(side, database);
            // The probe session connects while the fence goes up: opening it costs more than the rest of the check.
            CompletableFuture<Connection> probe = CompletableFuture.supplyAsync(
                    () -> sessions.connector(side).connect(database));
            try {
                Timestamp flipped = flip(c, true);
                engagedAt = start;
                drain(c, flipped);
                Connection fresh = probe.join();
                sessions.applyBound(fresh); // a silent network must not hold the engaged fence through the probe either
                verify(fresh);
                LOG.info("{}: fenced on the {}", database, sessions.connector(side).role());
            } catch (SQLException e) {
                disengageQuietly();
                throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, database, "fencing the "
                        + sessions.connector(side).role() + " failed; the fence is lifted again", e);
            } catch (CompletionException e) {
                disengageQuietly();
                throw e.getCause() instanceof RuntimeException r ? r : e;
            } catch (RuntimeException e) {
                disengageQuietly();
                throw e;
            } finally {
                probe.thenAccept(Sessions::closeQuietly);
            }
        }
    }

    /** Makes the guard inert: writable at once. The triggers stay until {@link #remove()}. */
    public void disengage() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            try {
                if (journal.flag(flag())) {
                    Connection c = sessions.get(side, database);
                    if (Queries.exists(c, GUARD_EXISTS, name)) {
                        flip(c, false);
                    }
                }
                liftedAt = Instant.now();
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, database, "lifting the fence on the "
                        + sessions.connector(side).role() + " failed; run rollback() or complete() again", e);
            }
        }
    }

    private void disengageQuietly() {
        try {
            disengage();
        } catch (RuntimeException e) {
            LOG.error("{}: lifting the fence after a failure failed too: {}", database, e.getMessage());
        }
    }

    @Override
    public void lift() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            disengage();
            remove();
        }
    }

    /**
     * Drops the triggers (one table per transaction, as {@link #prepare()} creates them), then the guards and the
     * schema. Waits only briefly for table locks: when the application holds them, the inert objects stay and a later
     * {@code complete()} removes them.
     *
     * @return whether everything is gone
     */
    public boolean remove() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            if (!journal.flag(flag())) {
                return true;
            }
            Connection c = sessions.get(side, database);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            try {
                for (String table : Queries.list(c, USER_TABLES + """
                          AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = ?)
                        """, rs -> quote(rs.getString(1), rs.getString(2)), name)) {
                    withTableLock(c, deadline, "remove the fence from " + table,
                            () -> Queries.execute(c, "DROP TRIGGER IF EXISTS " + quote(name) + " ON " + table));
                }
                Queries.inTransaction(c, () -> {
                    if (Queries.exists(c, "SELECT 1 FROM pg_event_trigger WHERE evtname = ?", name)) {
                        Queries.execute(c, "DROP EVENT TRIGGER " + quote(name));
                    }
                    // Tables whose trigger was not ours to list (a schema dropped meanwhile) go with the guard.
                    Queries.execute(c, "SET LOCAL lock_timeout = " + literal(TableLocks.LOCK_TIMEOUT));
                    Queries.execute(c, "DROP SCHEMA IF EXISTS " + quote(name) + " CASCADE");
                });
                journal.unmark(flag());
                LOG.debug("{}: fence removed from the {}", database, sessions.connector(side).role());
                return true;
            } catch (SQLException | PgMigrateException e) {
                LOG.warn("{}: the inert fence triggers stay on the {} for now ({}); complete() removes them", database,
                        sessions.connector(side).role(), e.getMessage());
                return false;
            }
        }
    }

    /** The sessions holding locks on tables of this database, for an error message. */
    @Override
    public boolean engaged() {
        try {
            return guardEngaged(sessions.get(side, database)).orElse(false);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the fence state failed", e);
        }
    }

    /**
     * What someone removed of this fence while it should hold, or empty: its guard, the guard's refusal, or the trigger
     * of a table the stream into this side carries (also one that joined the stream after the fence was installed).
     * Reads only.
     */
    public Optional<String> damage() {
        Connection c = sessions.get(side, database);
        try {
            // One round trip: status() asks on every poll of awaitInSync() and the cutover's catch-up.
            record State(String guard, List<String> bare) { }
            State state = Queries.first(c, """
                    SELECT (SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                            WHERE n.nspname = ? AND p.proname = 'guard'),
                           ARRAY(SELECT DISTINCT pg_catalog.format('%I.%I', n.nspname, c.relname)
                                 FROM pg_subscription_rel r
                                 JOIN pg_subscription s ON s.oid = r.srsubid
                                 JOIN pg_class c ON c.oid = r.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                                   AND n.nspname NOT LIKE 'pgmigrate\\_%'
                                   AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = ?
                                                   AND t.tgenabled = 'O')
                                 ORDER BY 1 LIMIT 10)
                    """, rs -> new State(rs.getString(1), List.of((String[]) rs.getArray(2).getArray())), name, name)
                    .orElseThrow();
            if (state.guard() == null) {
                return Optional.of("its guard function " + name + ".guard() is gone");
            }
            if (!state.guard().contains("RAISE")) {
                return Optional.of("its guard lets writes through");
            }
            // 'O': fires for sessions and not for apply workers; disabled it refuses nothing, and set to ALWAYS or
            // REPLICA it would stop the stream into this side.
            return state.bare().isEmpty() ? Optional.empty()
                    : Optional.of("tables " + state.bare() + " lack its trigger, or have it disabled or set to another"
                    + " mode");
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, database, "reading the fence state failed", e);
        }
    }

    /** Whether the guard raises; empty when there is no guard. */
    private Optional<Boolean> guardEngaged(Connection c) throws SQLException {
        return Queries.first(c, """
                SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = ? AND p.proname = 'guard'
                """, rs -> rs.getString(1).contains("RAISE"), name);
    }

    /**
     * Makes an engaged fence let this process's sessions through, when another process (one that crashed) engaged it
     * under its own key. The fence stays engaged throughout; does nothing when it is not engaged.
     */
    public void adopt() {
        try (Mdc.Scope onSide = Mdc.side(side)) {
            if (!journal.flag(flag())) {
                return;
            }
            try {
                Connection c = sessions.get(side, database);
                if (guardEngaged(c).orElse(false)) {
                    flip(c, true);
                }
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, database, "taking over the fence on the "
                        + sessions.connector(side).role() + " failed", e);
            }
        }
    }

    /** Replaces the guards' bodies; returns the server's clock after the commit. */
    private Timestamp flip(Connection c, boolean engaged) throws SQLException {
        Queries.inTransaction(c, () -> {
            // The event trigger of an earlier process (another key) would refuse this very replacement.
            boolean ddlFence = Queries.exists(c, "SELECT 1 FROM pg_event_trigger WHERE evtname = ?", name);
            if (ddlFence) {
                Queries.execute(c, "ALTER EVENT TRIGGER " + quote(name) + " DISABLE");
            }
            replaceGuards(c, engaged);
            if (ddlFence) {
                Queries.execute(c, "ALTER EVENT TRIGGER " + quote(name) + " ENABLE");
            }
        });
        return Queries.first(c, "SELECT clock_timestamp()", rs -> rs.getTimestamp(1)).orElseThrow();
    }

    private void replaceGuards(Connection c, boolean engaged) throws SQLException {
        // Every name and operator qualified: the guard runs with the caller's search_path, and a role that can create
        // objects could otherwise shadow "<>" with its own operator. The body holds no text from outside: plpgsql
        // parses its literals under the writing session's standard_conforming_strings, so a database name with a
        // backslash in a literal would break it there; the name is read when the guard fires. The migration's name
        // and the key's hash are letters, digits and underscores.
        String check = "IF pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(\n"
                + "       coalesce(pg_catalog.current_setting(" + literal(KEY_SETTING) + ", true), ''), 'UTF8')), 'hex')"
                + " OPERATOR(pg_catalog.<>) " + literal(keyHash) + " THEN\n"
                + "  RAISE EXCEPTION USING ERRCODE = '25006', MESSAGE = pg_catalog.format("
                + literal("database %s is fenced by pgmigrate migration " + migration
                + ": it accepts no writes while traffic moves to the other server") + ", pg_catalog.current_database())"
                + ", HINT = " + literal("reconnect through the traffic switch; the other server takes the writes")
                + ";\nEND IF;\n";
        String dml = "BEGIN\n" + (engaged ? check : "") + "RETURN NULL;\nEND";
        // Commands that change nothing a stream carries stay open to what is left on the fenced side (reports,
        // backups' roles): a materialized view is not replicated, and grants are each side's own.
        String ddl = "BEGIN\n" + (engaged ? "IF TG_TAG OPERATOR(pg_catalog.=) ANY\n"
                + "    (ARRAY['REFRESH MATERIALIZED VIEW', 'GRANT', 'REVOKE']::pg_catalog.text[]) THEN\n"
                + "  RETURN;\nEND IF;\n" + check : "NULL;\n") + "END";
        Queries.execute(c, "CREATE OR REPLACE FUNCTION " + guard() + " RETURNS trigger LANGUAGE plpgsql AS "
                + literal(dml));
        Queries.execute(c, "CREATE OR REPLACE FUNCTION " + ddlGuard() + " RETURNS event_trigger LANGUAGE plpgsql AS "
                + literal(ddl));
    }

    private String guard() {
        return quote(name, "guard") + "()";
    }

    private String ddlGuard() {
        return quote(name, "guard_ddl") + "()";
    }

    /**
     * Waits for every transaction that began before {@code flipped} to end, terminates what is left after the drain
     * timeout, and refuses prepared transactions, which could commit later without running a statement.
     */
    private void drain(Connection c, Timestamp flipped) throws SQLException {
        // Without pg_read_all_stats, other roles' sessions show no xact_start: the drain would be blind to them.
        if (!Queries.exists(c, """
                SELECT 1 FROM pg_roles WHERE rolname = current_user
                  AND (rolsuper OR (pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
                                    AND pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')))
                """)) {
            throw new PgMigrateException(CoreErrorCode.PERMISSION_DENIED, database, "the migration role must see and end"
                    + " other sessions to fence the " + sessions.connector(side).role() + ": GRANT pg_read_all_stats,"
                    + " pg_signal_backend TO the migration role (or make it a superuser)");
        }
        // Every kind of backend, not a list of kinds: a background worker reports its own bgw_type as backend_type,
        // and a replication=database walsender runs plain SQL, showing no xact_start while it does: any walsender
        // that is neither idle nor streaming counts as in flight. Left alone: this session, autovacuum (it writes no
        // rows a stream carries), and the apply workers and walsenders of the migration's own streams, by pid.
        String inFlight = """
                SELECT a.pid FROM pg_stat_activity a
                WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                  AND ((a.xact_start IS NOT NULL AND a.xact_start < ?)
                       OR (a.backend_type = 'walsender' AND a.state IS DISTINCT FROM 'idle'
                           AND NOT EXISTS (SELECT 1 FROM pg_stat_replication r
                                           WHERE r.pid = a.pid AND r.state <> 'startup')))
                  AND a.backend_type <> 'autovacuum worker'
                  AND NOT EXISTS (SELECT 1 FROM pg_stat_subscription s JOIN pg_subscription u ON u.oid = s.subid
                                  WHERE s.pid = a.pid AND u.subname = ANY (?))
                  AND NOT EXISTS (SELECT 1 FROM pg_replication_slots r
                                  WHERE r.active_pid = a.pid AND r.slot_name = ANY (?))
                """;
        long deadline = System.nanoTime() + drainTimeout.toNanos();
        long pause = 2;
        List<Integer> left = inFlight(c, inFlight, flipped);
        while (!left.isEmpty() && System.nanoTime() < deadline) {
            Waits.pause(pause, database);
            pause = Math.min(pause * 2, 50);
            left = inFlight(c, inFlight, flipped);
        }
        if (!left.isEmpty()) {
            LOG.info("{}: terminating {} session(s) whose transactions began before the fence", database, left.size());
            for (int pid : left) {
                Queries.first(c, "SELECT pg_terminate_backend(?)", rs -> null, pid);
            }
            long gone = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            pause = 2;
            while (!inFlight(c, inFlight, flipped).isEmpty()) {
                if (System.nanoTime() > gone) {
                    throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, database, "sessions that began a transaction"
                            + " before the fence did not exit within 10 s of being terminated");
                }
                Waits.pause(pause, database);
                pause = Math.min(pause * 2, 50);
            }
        }
        List<String> prepared = Queries.list(c, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()",
                rs -> rs.getString(1));
        pause = 5;
        while (!prepared.isEmpty() && System.nanoTime() < deadline) {
            Waits.pause(pause, database);
            pause = Math.min(pause * 2, 50);
            prepared = Queries.list(c, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()",
                    rs -> rs.getString(1));
        }
        if (!prepared.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, database, "prepared transactions " + prepared
                    + " could still commit on the " + sessions.connector(side).role() + " after the fence; COMMIT PREPARED"
                    + " or ROLLBACK PREPARED them, then run the cutover again");
        }
    }

    private List<Integer> inFlight(Connection c, String query, Timestamp flipped) throws SQLException {
        return Queries.list(c, query, rs -> rs.getInt(1), flipped, c.createArrayOf("text", ownSubscriptions),
                c.createArrayOf("text", ownSlots));
    }

    /**
     * Proves the fence from a session without the key, opened for this check: every table is guarded and a write is
     * refused.
     */
    private void verify(Connection probe) throws SQLException {
        List<String> unguarded = Queries.list(probe, USER_TABLES + """
                  AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = ?
                                  AND t.tgenabled IN ('O', 'A'))
                """, rs -> quote(rs.getString(1), rs.getString(2)), name);
        if (!unguarded.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, database, "tables " + unguarded + " on the "
                    + sessions.connector(side).role() + " are not covered by the fence (created or altered during"
                    + " the cutover?); run the cutover again");
        }
        // A table with rules is not a probe: a DO INSTEAD NOTHING rule swallows the write before any trigger fires.
        Optional<String> table = Queries.first(probe, USER_TABLES + " AND has_table_privilege(c.oid, 'DELETE')"
                + " AND NOT c.relhasrules ORDER BY c.oid LIMIT 1", rs -> quote(rs.getString(1), rs.getString(2)));
        if (table.isEmpty()) {
            return;
        }
        probe.setAutoCommit(false);
        try {
            Queries.execute(probe, "SET LOCAL transaction_read_only = off");
            // Behind a queued ACCESS EXCLUSIVE request (an application's TRUNCATE or ALTER waiting for a read) the
            // probe would wait as long as the read: it gives up instead, and the cutover with it.
            Queries.execute(probe, "SET LOCAL lock_timeout = '2s'");
            Queries.execute(probe, "DELETE FROM " + table.get() + " WHERE false");
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, database, "a fresh session could still write to "
                    + table.get() + " on the " + sessions.connector(side).role() + " after the fence");
        } catch (SQLException e) {
            if (!"25006".equals(e.getSQLState())) {
                throw e;
            }
        } finally {
            probe.rollback();
        }
    }
}
