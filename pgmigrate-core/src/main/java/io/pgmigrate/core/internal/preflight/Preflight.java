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
        }
        return new PreflightReport(findings);
    }

    /** The error that kept the last run from reaching a server, with its own code (for the caller's exception). */
    public java.util.Optional<PgMigrateException> connectionFailure() {
        return java.util.Optional.ofNullable(connectionFailure);
    }

    private static Finding unreachable(String check, String db, PgMigrateException e, String fix) {
        return new Finding(Severity.BLOCKER, check, db, "", e.getMessage(), fix);
    }
}
