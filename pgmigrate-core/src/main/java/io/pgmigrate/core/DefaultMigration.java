package io.pgmigrate.core;

import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.ErrorCode;
import io.pgmigrate.Lsn;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.TableVerification;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.core.preflight.Preflight;
import io.pgmigrate.core.replication.Sentinel;
import io.pgmigrate.core.replication.nativ.LinkState;
import io.pgmigrate.core.replication.nativ.NativeLink;
import io.pgmigrate.core.schema.CatalogSchema;
import io.pgmigrate.core.schema.TableRef;
import io.pgmigrate.core.sql.Connector;
import io.pgmigrate.core.sql.Queries;
import io.pgmigrate.core.state.Journal;
import io.pgmigrate.core.verify.TableDigest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.pgmigrate.core.sql.Identifiers.literal;
import static io.pgmigrate.core.sql.Identifiers.quote;

/** The migration with the NATIVE engine: orchestrates schema copy, links, status, verification and clean-up. */
final class DefaultMigration implements Migration {

    private static final Logger LOG = LoggerFactory.getLogger(DefaultMigration.class);
    private static final String MAINTENANCE_DB = "postgres";

    private final MigrationConfig config;
    private final Connector source;
    private final Connector target;
    /** How the target server reaches the source: the subscription's connection. */
    private final Connector peer;
    private final ObjectNames names;
    private final Sessions sessions;
    private Journal journal;

    DefaultMigration(MigrationConfig config) {
        this.config = config;
        this.source = new Connector(config.source(), "source", config.connectTimeout(), config.connectAttempts());
        this.target = new Connector(config.target(), "target", config.connectTimeout(), config.connectAttempts());
        this.peer = new Connector(peerEndpoint(config), "source as seen by the target", config.connectTimeout(), 1);
        this.names = new ObjectNames(config.name());
        this.sessions = new Sessions(source, target);
    }

    /**
     * {@code sourceAsSeenByTarget} with the source's credentials where it has none of its own, so a different address
     * alone does not send the target to the source without a user or password.
     */
    private static io.pgmigrate.Endpoint peerEndpoint(MigrationConfig config) {
        io.pgmigrate.Endpoint p = config.sourceAsSeenByTarget();
        io.pgmigrate.Endpoint s = config.source();
        if (p.user().isEmpty() && s.user().isPresent()) {
            p = p.user(s.user().get());
        }
        if (p.password().isEmpty() && p.passfile().isEmpty()) {
            if (s.password().isPresent()) {
                p = p.password(s.password().get());
            } else if (s.passfile().isPresent()) {
                p = p.passfile(s.passfile().get());
            }
        }
        return p;
    }

    @Override
    public String name() {
        return config.name();
    }

    @Override
    public MigrationConfig config() {
        return config;
    }

    private synchronized Journal journal() {
        if (journal == null) {
            journal = Journal.load(config);
        }
        return journal;
    }

    private NativeLink link(String db) {
        return new NativeLink(db, names.publication(db), names.subscription(db), names.slot(db),
                journal().database(db));
    }

    @Override
    public PreflightReport preflight() {
        return new Preflight(source, target, config.databases(), names, journal()).run();
    }

    @Override
    public synchronized void start() {
        PreflightReport report = preflight();
        if (report.hasBlockers()) {
            throw new PgMigrateException(ErrorCode.PREFLIGHT_FAILED, "preflight found " + report.blockers().size()
                    + " blocker(s); nothing was changed:\n" + report.toTable());
        }
        report.findings().forEach(f -> warn(f.database(), f.check() + ": " + f.message()));
        for (String db : config.databases()) {
            startDatabase(db);
        }
    }

    private void startDatabase(String db) {
        Journal.DatabaseEntry entry = journal().database(db);
        NativeLink link = link(db);
        try {
            ensureTargetDatabase(db, entry);
            Connection src = sessions.source(db);
            Connection tgt = sessions.target(db);
            if (!link.subscriptionExists(tgt)) {
                phase(db, entry, Phase.SCHEMA);
                CatalogSchema schema = CatalogSchema.read(src); // objects it cannot copy were preflight warnings
                if (schema.applyTo(tgt, db)) {
                    LOG.info("{}: created the schema on the target ({} tables, {} statements)", db,
                            schema.tables().size(), schema.statements().size());
                } else {
                    requireEmpty(tgt, db, schema.tables());
                }
                entry.mark("schemaCopied");
                link.ensurePublication(src, schema.tables());
            }
            link.ensureSubscription(src, tgt, peer.endpoint(), peer.password(db));
            LinkState state = link.read(src, tgt);
            phase(db, entry, state.allTablesReady() ? Phase.STREAMING : Phase.COPYING);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(ErrorCode.REPLICATION_FAILED, db, "starting the migration failed", e);
        }
    }

    private void ensureTargetDatabase(String db, Journal.DatabaseEntry entry) throws SQLException {
        Connection admin = sessions.target(MAINTENANCE_DB);
        if (Queries.exists(admin, "SELECT 1 FROM pg_database WHERE datname = ?", db)) {
            return;
        }
        Object[] props = Queries.first(sessions.source(db), """
                SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database
                WHERE datname = current_database()
                """, rs -> new Object[]{rs.getString(1), rs.getString(2), rs.getString(3)}).orElseThrow();
        String base = "CREATE DATABASE " + quote(db) + " TEMPLATE template0 ENCODING " + literal((String) props[0]);
        try {
            Queries.execute(admin, base + " LC_COLLATE " + literal((String) props[1]) + " LC_CTYPE "
                    + literal((String) props[2]));
        } catch (SQLException e) {
            // The source's locale may not exist on the target; the encoding is what must match.
            LOG.warn("{}: creating the target database with the source's locale failed ({}); using the target's default",
                    db, e.getMessage());
            Queries.execute(admin, base);
            warn(db, "the target database was created with the target's default locale, not the source's "
                    + props[1] + "; text sort order may differ");
        }
        entry.mark("targetDatabaseCreated");
        LOG.info("{}: created the database on the target", db);
    }

    private static void requireEmpty(Connection tgt, String db, List<TableRef> tables) throws SQLException {
        for (TableRef t : tables) {
            if (Queries.exists(tgt, "SELECT 1 FROM ONLY " + t.quoted() + " LIMIT 1")) {
                throw new PgMigrateException(ErrorCode.SCHEMA_COPY_FAILED, db, "the target table " + t
                        + " already holds rows; the initial copy would duplicate them. Empty it on the target"
                        + " (TRUNCATE " + t.quoted() + ") or leave this database out of the migration");
            }
        }
    }

    @Override
    public MigrationStatus awaitInSync(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<String, Lsn> goal = new HashMap<>();
        for (String db : config.databases()) {
            goal.put(db, sourceLsn(db));
        }
        long nextProgress = 0;
        long pause = 20;
        while (true) {
            MigrationStatus st = status();
            long now = System.nanoTime();
            if (now >= nextProgress) {
                for (MigrationListener l : config.listeners()) {
                    l.onProgress(st);
                }
                nextProgress = now + config.progressInterval().toNanos();
            }
            boolean done = true;
            for (DatabaseStatus d : st.databases()) {
                if (d.phase() == Phase.FAILED) {
                    throw new PgMigrateException(ErrorCode.REPLICATION_FAILED, d.database(), d.message());
                }
                done &= d.allTablesReady() && d.confirmedLsn().isAtOrAfter(goal.get(d.database()));
            }
            if (done) {
                return st;
            }
            if (now > deadline) {
                throw new PgMigrateException(ErrorCode.TIMEOUT, "not in sync after " + timeout + ": " + describe(st));
            }
            sleep(Math.min(pause, Math.max(1, (deadline - now) / 1_000_000)));
            pause = Math.min(pause * 2, 250);
        }
    }

    private synchronized Lsn sourceLsn(String db) {
        try {
            return Sentinel.emit(sessions.source(db));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(ErrorCode.REPLICATION_FAILED, db, "marking the source's WAL position failed", e);
        }
    }

    private static String describe(MigrationStatus st) {
        List<String> parts = new ArrayList<>();
        for (DatabaseStatus d : st.databases()) {
            long notReady = d.tables().stream().filter(t -> t.state() != io.pgmigrate.CopyState.READY).count();
            parts.add(d.database() + ": " + d.phase() + ", " + notReady + " of " + d.tables().size()
                    + " tables still copying, lag " + d.lagBytes() + " bytes"
                    + (d.message().isEmpty() ? "" : ", " + d.message()));
        }
        return String.join("; ", parts);
    }

    @Override
    public synchronized MigrationStatus status() {
        List<DatabaseStatus> out = new ArrayList<>();
        for (String db : config.databases()) {
            Journal.DatabaseEntry entry = journal().database(db);
            Phase recorded = entry.phase();
            if (recorded == Phase.NOT_STARTED || recorded == Phase.COMPLETED) {
                out.add(new DatabaseStatus(db, recorded, Lsn.ZERO, Lsn.ZERO, 0, Duration.ZERO, List.of(), ""));
                continue;
            }
            try {
                LinkState s = link(db).read(sessions.source(db), sessions.target(db));
                Phase phase;
                String message = s.problem();
                if (!s.subscriptionExists() && recorded != Phase.SCHEMA) {
                    phase = Phase.FAILED;
                    message = "subscription " + names.subscription(db) + " is missing on the target";
                } else if (s.subscriptionExists() && !s.slotExists()) {
                    phase = Phase.FAILED;
                } else if (!s.subscriptionExists()) {
                    phase = recorded;
                } else {
                    phase = s.allTablesReady() ? Phase.STREAMING : Phase.COPYING;
                }
                if (phase != recorded && phase != Phase.FAILED) {
                    phase(db, entry, phase);
                }
                out.add(new DatabaseStatus(db, phase, s.sourceLsn(), s.confirmedLsn(), s.lagBytes(), s.lagTime(),
                        s.tables(), message));
            } catch (SQLException e) {
                sessions.forget(db);
                throw PgMigrateException.fromSql(ErrorCode.CONNECTION_FAILED, db, "reading the replication status failed", e);
            }
        }
        return new MigrationStatus(config.name(), Instant.now(), out);
    }

    @Override
    public synchronized VerificationReport verify() {
        long started = System.nanoTime();
        List<TableVerification> results = new ArrayList<>();
        for (String db : config.databases()) {
            try {
                Connection src = sessions.source(db);
                Connection tgt = sessions.target(db);
                List<TableRef> tables = Queries.list(src, """
                        SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = ?
                        ORDER BY 1, 2
                        """, rs -> new TableRef(rs.getString(1), rs.getString(2)), names.publication(db));
                for (TableRef t : tables) {
                    List<String> columns = TableDigest.columns(src, t);
                    TableDigest a = TableDigest.of(src, t, columns);
                    TableDigest b = TableDigest.of(tgt, t, columns);
                    results.add(new TableVerification(db, t.schema(), t.name(), a.rows(), b.rows(), a.digest(),
                            b.digest()));
                }
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(ErrorCode.VERIFICATION_FAILED, db, "comparing tables failed", e);
            }
        }
        return new VerificationReport(results, Duration.ofNanos(System.nanoTime() - started));
    }

    @Override
    public synchronized void complete() {
        for (String db : config.databases()) {
            Journal.DatabaseEntry entry = journal().database(db);
            if (!entry.flag("publication") && !entry.flag("subscription")) {
                continue; // nothing of ours on the servers
            }
            try {
                boolean targetExists = Queries.exists(sessions.target(MAINTENANCE_DB),
                        "SELECT 1 FROM pg_database WHERE datname = ?", db);
                link(db).drop(sessions.source(db), targetExists ? sessions.target(db) : null);
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(ErrorCode.REPLICATION_FAILED, db,
                        "removing the replication objects failed; complete() can be called again", e);
            }
            phase(db, entry, Phase.COMPLETED);
        }
        journal().delete();
        journal = null;
        LOG.info("migration {} completed: every replication object it created is removed", config.name());
    }

    @Override
    public void close() {
        sessions.close();
    }

    private void phase(String db, Journal.DatabaseEntry entry, Phase phase) {
        if (entry.phase() == phase) {
            return;
        }
        entry.phase(phase);
        LOG.info("{}: phase {}", db, phase);
        for (MigrationListener l : config.listeners()) {
            l.onPhase(db, phase);
        }
    }

    private void warn(String db, String message) {
        LOG.warn("{}: {}", db, message);
        for (MigrationListener l : config.listeners()) {
            l.onWarning(db, message);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PgMigrateException(ErrorCode.TIMEOUT, "interrupted while waiting");
        }
    }

    @Override
    public String toString() {
        return "Migration[" + config + "]";
    }

    /** One open connection per side and database, reused across calls and re-opened when broken. */
    private static final class Sessions implements AutoCloseable {

        private final Connector source;
        private final Connector target;
        private final Map<String, Connection> open = new LinkedHashMap<>();

        Sessions(Connector source, Connector target) {
            this.source = source;
            this.target = target;
        }

        synchronized Connection source(String db) {
            return get(source, db);
        }

        synchronized Connection target(String db) {
            return get(target, db);
        }

        private Connection get(Connector connector, String db) {
            String key = connector.role() + "\u0000" + db;
            Connection c = open.get(key);
            try {
                if (c != null && c.isValid(2)) {
                    return c;
                }
            } catch (SQLException e) {
                // fall through and reconnect
            }
            closeQuietly(c);
            c = connector.connect(db);
            open.put(key, c);
            return c;
        }

        synchronized void forget(String db) {
            open.entrySet().removeIf(e -> {
                if (e.getKey().endsWith("\u0000" + db)) {
                    closeQuietly(e.getValue());
                    return true;
                }
                return false;
            });
        }

        @Override
        public synchronized void close() {
            open.values().forEach(Sessions::closeQuietly);
            open.clear();
        }

        private static void closeQuietly(Connection c) {
            if (c != null) {
                try {
                    c.close();
                } catch (SQLException e) {
                    LOG.debug("closing a connection failed", e);
                }
            }
        }
    }
}
