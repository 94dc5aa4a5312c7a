package io.pgmigrate.core.internal.preflight;

import io.pgmigrate.Finding;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.SchemaStrategy;
import io.pgmigrate.Severity;
import io.pgmigrate.core.internal.ObjectNames;
import io.pgmigrate.core.internal.schema.PgDump;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks both servers and every database without changing anything. Each finding says what is wrong, why it matters
 * and the SQL or setting that fixes it. A server that cannot be reached is a finding too, not an exception. The
 * checks themselves live in {@link ServerChecks} (settings, versions, privileges, per side) and {@link DatabaseChecks}
 * (databases, tables, extensions, collations, transactions, names); docs/preflight.md lists every one.
 */
public final class Preflight {

    private final Connector source;
    private final Connector target;
    private final List<String> databases;
    private final ObjectNames names;
    private final Journal journal;
    private final MigrationConfig.SchemaSettings schema;
    private PgMigrateException connectionFailure;
    /** The configured number of copy workers; 0 when pgmigrate sizes it to the servers. */
    private final int copyWorkers;
    private final io.pgmigrate.Engine engine;
    /** STREAM: target connections (and replication origins) each database's stream applies on. */
    private final int streamConnections;

    public Preflight(Connector source, Connector target, List<String> databases, ObjectNames names, Journal journal,
                     MigrationConfig.SchemaSettings schema, int copyWorkers, io.pgmigrate.Engine engine,
                     int streamConnections) {
        this.engine = engine;
        this.streamConnections = streamConnections;
        this.schema = schema;
        this.copyWorkers = copyWorkers;
        this.source = source;
        this.target = target;
        this.databases = databases;
        this.names = names;
        this.journal = journal;
    }

    public PreflightReport run() {
        List<Finding> findings = new ArrayList<>();
        // Links still to be created: a restarted migration does not need room for what it already has.
        int newLinks = (int) databases.stream().filter(db -> !journal.database(db).flag(Flag.SUBSCRIPTION)).count();
        ServerChecks.Side src;
        ServerChecks.Side tgt;
        try (Connection c = source.connect(databases.get(0))) {
            src = ServerChecks.Side.read(c, "source");
        } catch (PgMigrateException e) {
            connectionFailure = e;
            findings.add(unreachable("source_connection", databases.get(0), e,
                    "check the source endpoint, the database name, SSL settings and pg_hba.conf"));
            return new PreflightReport(findings);
        } catch (SQLException e) {
            findings.add(new Finding(Severity.BLOCKER, "source_connection", "", "", "reading the source failed: "
                    + e.getMessage(), ""));
            return new PreflightReport(findings);
        }
        try (Connection c = target.connect("postgres")) {
            tgt = ServerChecks.Side.read(c, "target");
        } catch (PgMigrateException e) {
            connectionFailure = e;
            findings.add(unreachable("target_connection", "postgres", e, "check the target endpoint, SSL settings and"
                    + " pg_hba.conf (pgmigrate connects to the target's database postgres first)"));
            return new PreflightReport(findings);
        } catch (SQLException e) {
            findings.add(new Finding(Severity.BLOCKER, "target_connection", "", "", "reading the target failed: "
                    + e.getMessage(), ""));
            return new PreflightReport(findings);
        }
        new ServerChecks(src, tgt, newLinks, databases.size(), copyWorkers, findings,
                engine == io.pgmigrate.Engine.STREAM ? streamConnections : 0).run();
        schemaChanges(src, tgt, findings);
        if (schema.strategy() == SchemaStrategy.PG_DUMP) {
            try {
                PgDump found = PgDump.find(schema.pgDump(), src.major(), tgt.major());
                findings.add(new Finding(Severity.INFO, "pg_dump", "", found.executable().toString(), "the schema is"
                        + " copied with " + found, ""));
            } catch (PgMigrateException e) {
                findings.add(new Finding(Severity.BLOCKER, "pg_dump", "", "", e.getMessage(), "install a pg_dump "
                        + src.major() + " or later, set pgDump(Path), or use SchemaStrategy.CATALOG"));
            }
        }
        for (String db : databases) {
            new DatabaseChecks(db, source, target, src, tgt, names, journal.database(db), findings,
                    db.equals(databases.get(0)), schema).run();
            pendingSchemaChange(db, findings);
        }
        return new PreflightReport(findings);
    }

    /**
     * Schema changes are carried (or frozen) by event triggers, which only a superuser creates: without one on both
     * sides, a freeze cannot start and changes are only detected ({@code status()} names tables that differ).
     */
    private void schemaChanges(ServerChecks.Side src, ServerChecks.Side tgt, List<Finding> findings) {
        List<ServerChecks.Side> lacking = java.util.stream.Stream.of(src, tgt).filter(s -> !s.superuser()).toList();
        if (lacking.isEmpty()) {
            return;
        }
        String where = lacking.stream().map(s -> "the " + s.name() + " (" + s.role() + ")")
                .collect(java.util.stream.Collectors.joining(" and "));
        String fix = lacking.stream().map(s -> "on the " + s.name() + ": ALTER ROLE "
                + io.pgmigrate.core.internal.sql.Identifiers.quote(s.role()) + " SUPERUSER;")
                .collect(java.util.stream.Collectors.joining(" "));
        String object = lacking.stream().map(ServerChecks.Side::role).distinct()
                .collect(java.util.stream.Collectors.joining(", "));
        if (schema.changes() == io.pgmigrate.SchemaChanges.FREEZE) {
            findings.add(new Finding(Severity.BLOCKER, "schema_changes", "", object, "schemaChanges(FREEZE) refuses"
                    + " schema changes with an event trigger, which only a superuser can create, and the migration"
                    + " role is no superuser on " + where, fix + " Or build the migration without the freeze."));
        } else {
            findings.add(new Finding(Severity.WARNING, "schema_changes", "", object, "schema changes (DDL) made"
                    + " during the migration are not carried: recording them needs an event trigger, which only a"
                    + " superuser can create, and the migration role is no superuser on " + where + "; status()"
                    + " names each table whose columns then differ between the sides, and each change must be made"
                    + " on both (Migration.applyOnFencedSide for the side without traffic)",
                    fix + " Or make each schema change on both sides yourself."));
        }
    }

    /**
     * A running migration: the schema change the stream has yet to apply on the side without traffic, which is the
     * one it stopped at when it stopped (status() says whether it did).
     */
    private void pendingSchemaChange(String db, List<Finding> findings) {
        Journal.DatabaseEntry entry = journal.database(db);
        if (!entry.flag(Flag.SOURCE_DDL) || !entry.flag(Flag.TARGET_DDL)) {
            return;
        }
        io.pgmigrate.Side from = io.pgmigrate.core.internal.cutover.Cutover.active(journal);
        Connector a = from == io.pgmigrate.Side.SOURCE ? source : target;
        Connector b = from == io.pgmigrate.Side.SOURCE ? target : source;
        String to = from == io.pgmigrate.Side.SOURCE ? "target" : "source";
        try (Connection ca = a.connect(db); Connection cb = b.connect(db)) {
            io.pgmigrate.core.internal.ddl.DdlCarry.next(ca, cb, names.ddl(db),
                    from.name().toLowerCase(java.util.Locale.ROOT)).ifPresent(p -> findings.add(p.replayable()
                    ? new Finding(Severity.INFO, "schema_change_pending", db, "#" + p.id(), "schema change "
                    + p.describe() + " has not been applied on the " + to + " yet; where the stream stopped at it,"
                    + " status() and the " + to + "'s server log say why", "")
                    : new Finding(Severity.WARNING, "schema_change_pending", db, "#" + p.id(), "the stream stops"
                    + " at schema change " + p.describe() + ", which pgmigrate cannot replay", "make the change"
                    + " on the " + to + " yourself with Migration.applyOnFencedSide(\"" + db + "\", sql); the"
                    + " stream goes on after it")));
        } catch (PgMigrateException | SQLException e) {
            findings.add(new Finding(Severity.WARNING, "schema_change_pending", db, "", "reading the schema changes"
                    + " the stream has yet to apply failed: " + e.getMessage(), ""));
        }
    }

    /** The error that kept the last run from reaching a server, with its own code (for the caller's exception). */
    public java.util.Optional<PgMigrateException> connectionFailure() {
        return java.util.Optional.ofNullable(connectionFailure);
    }

    private static Finding unreachable(String check, String db, PgMigrateException e, String fix) {
        return new Finding(Severity.BLOCKER, check, db, "", e.getMessage(), fix);
    }
}
