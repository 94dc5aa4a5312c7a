package io.pgmigrate.core.preflight;

import io.pgmigrate.Finding;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.Severity;
import io.pgmigrate.core.ObjectNames;
import io.pgmigrate.core.schema.CatalogSchema;
import io.pgmigrate.core.sql.Connector;
import io.pgmigrate.core.sql.Queries;
import io.pgmigrate.core.state.Journal;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks both servers and every database without changing anything. Each finding says what is wrong, why it matters
 * and the SQL or setting that fixes it. A server that cannot be reached is a finding too, not an exception.
 */
public final class Preflight {

    /** Oldest major the target may run: status reads pg_stat_progress_copy, new in 14. */
    static final int MIN_TARGET_MAJOR = 14;
    /** Oldest source major: the catalog schema copy reads pg_attribute.attgenerated, new in 12. */
    static final int MIN_SOURCE_MAJOR = 12;

    private final Connector source;
    private final Connector target;
    private final List<String> databases;
    private final ObjectNames names;
    private final Journal journal;
    private final List<Finding> findings = new ArrayList<>();

    public Preflight(Connector source, Connector target, List<String> databases, ObjectNames names, Journal journal) {
        this.source = source;
        this.target = target;
        this.databases = databases;
        this.names = names;
        this.journal = journal;
    }

    public PreflightReport run() {
        int newLinks = (int) databases.stream().filter(db -> !journal.database(db).flag("subscription")).count();
        try (Connection src = source.connect(databases.get(0))) {
            checkSource(src, newLinks);
        } catch (PgMigrateException e) {
            add(Severity.BLOCKER, "source_connection", databases.get(0), "", e.getMessage(),
                    "check the source endpoint, the database name and pg_hba.conf");
            return report();
        } catch (SQLException e) {
            add(Severity.BLOCKER, "source_connection", "", "", "checking the source failed: " + e.getMessage(), "");
        }
        try (Connection tgt = target.connect("postgres")) {
            checkTarget(tgt, newLinks);
        } catch (PgMigrateException e) {
            add(Severity.BLOCKER, "target_connection", "postgres", "", e.getMessage(),
                    "check the target endpoint and pg_hba.conf (pgmigrate connects to its database postgres first)");
            return report();
        } catch (SQLException e) {
            add(Severity.BLOCKER, "target_connection", "", "", "checking the target failed: " + e.getMessage(), "");
        }
        for (String db : databases) {
            checkDatabase(db);
        }
        return report();
    }

    private PreflightReport report() {
        return new PreflightReport(findings);
    }

    private void checkSource(Connection c, int newLinks) throws SQLException {
        int major = major(c);
        if (major < MIN_SOURCE_MAJOR) {
            add(Severity.BLOCKER, "source_version", "", "server_version", "the source runs PostgreSQL " + major
                    + "; pgmigrate needs " + MIN_SOURCE_MAJOR + " or later on the source", "");
        }
        String walLevel = Queries.string(c, "SHOW wal_level");
        if (!"logical".equals(walLevel)) {
            add(Severity.BLOCKER, "wal_level", "", "wal_level", "the source has wal_level = " + walLevel
                    + "; logical replication needs logical", "ALTER SYSTEM SET wal_level = logical; then restart the source");
        }
        Object[] role = Queries.first(c, "SELECT rolsuper, rolreplication, current_user FROM pg_roles"
                + " WHERE rolname = current_user", rs -> new Object[]{rs.getBoolean(1), rs.getBoolean(2),
                rs.getString(3)}).orElseThrow();
        if (!(Boolean) role[0] && !(Boolean) role[1]) {
            add(Severity.BLOCKER, "source_privileges", "", (String) role[2], "the migration role can neither"
                    + " replicate nor is it a superuser", "ALTER ROLE " + io.pgmigrate.core.sql.Identifiers.quote(
                    (String) role[2]) + " REPLICATION;");
        }
        int maxSlots = intSetting(c, "max_replication_slots");
        int usedSlots = Integer.parseInt(Queries.string(c, "SELECT count(*) FROM pg_replication_slots"));
        if (maxSlots - usedSlots < newLinks) {
            add(Severity.BLOCKER, "max_replication_slots", "", "max_replication_slots", "the source has "
                    + (maxSlots - usedSlots) + " free replication slots and the migration needs " + newLinks
                    + " (one per database) plus one per table being copied at a time",
                    "ALTER SYSTEM SET max_replication_slots = " + (usedSlots + newLinks * 3 + 2)
                            + "; then restart the source");
        }
        int maxSenders = intSetting(c, "max_wal_senders");
        int usedSenders = Integer.parseInt(Queries.string(c, "SELECT count(*) FROM pg_stat_replication"));
        if (maxSenders - usedSenders < newLinks) {
            add(Severity.BLOCKER, "max_wal_senders", "", "max_wal_senders", "the source has "
                    + (maxSenders - usedSenders) + " free WAL senders and the migration needs " + newLinks,
                    "ALTER SYSTEM SET max_wal_senders = " + (usedSenders + newLinks * 3 + 2) + "; then restart the source");
        }
    }

    private void checkTarget(Connection c, int newLinks) throws SQLException {
        int major = major(c);
        if (major < MIN_TARGET_MAJOR) {
            add(Severity.BLOCKER, "target_version", "", "server_version", "the target runs PostgreSQL " + major
                    + "; pgmigrate needs " + MIN_TARGET_MAJOR + " or later on the target", "");
        }
        boolean superuser = Boolean.TRUE.equals(Queries.first(c,
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", rs -> rs.getBoolean(1)).orElse(false));
        if (!superuser) {
            add(Severity.BLOCKER, "target_privileges", "", "", "creating subscriptions on the target needs a superuser"
                    + (major >= 16 ? " or a member of pg_create_subscription with CREATE on the database" : ""),
                    major >= 16 ? "GRANT pg_create_subscription TO <role>; GRANT CREATE ON DATABASE <db> TO <role>;"
                            : "ALTER ROLE <role> SUPERUSER;");
        }
        int workers = intSetting(c, "max_logical_replication_workers");
        if (workers < newLinks + 1) {
            add(Severity.BLOCKER, "max_logical_replication_workers", "", "max_logical_replication_workers",
                    "the target allows " + workers + " logical replication workers; the migration needs one per"
                            + " database (" + newLinks + ") plus copy workers",
                    "ALTER SYSTEM SET max_logical_replication_workers = " + (newLinks * 3 + 2)
                            + "; then restart the target");
        }
    }

    private void checkDatabase(String db) {
        Journal.DatabaseEntry entry = journal.database(db);
        try (Connection src = source.connect(db)) {
            for (Object[] t : Queries.list(src, """
                    SELECT n.nspname, c.relname
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind = 'r' AND c.relpersistence = 'p'
                      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                      AND (c.relreplident = 'n'
                           OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i
                                                                 WHERE i.indrelid = c.oid AND i.indisreplident))
                           OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i
                                                                 WHERE i.indrelid = c.oid AND i.indisprimary)))
                    ORDER BY 1, 2
                    """, rs -> new Object[]{rs.getString(1), rs.getString(2)})) {
                String table = io.pgmigrate.core.sql.Identifiers.quote((String) t[0], (String) t[1]);
                add(Severity.BLOCKER, "replica_identity", db, t[0] + "." + t[1], "the table has no primary key and no"
                        + " replica identity: once published, UPDATE and DELETE on it fail on the source",
                        "ALTER TABLE " + table + " ADD PRIMARY KEY (...); or ALTER TABLE " + table
                                + " REPLICA IDENTITY FULL;");
            }
            for (String notCopied : CatalogSchema.read(src).notCopied()) {
                add(Severity.WARNING, "not_copied", db, "", notCopied + "; it is not migrated", "");
            }
            if (!entry.flag("publication") && Queries.exists(src, "SELECT 1 FROM pg_publication WHERE pubname = ?",
                    names.publication(db))) {
                add(Severity.BLOCKER, "name_collision", db, names.publication(db), "a publication with the name"
                        + " pgmigrate would use already exists and was not created by this migration",
                        "name the migration differently, or DROP PUBLICATION if it is a leftover");
            }
            if (!entry.flag("subscription") && Queries.exists(src,
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = ?", names.slot(db))) {
                add(Severity.BLOCKER, "name_collision", db, names.slot(db), "a replication slot with the name"
                        + " pgmigrate would use already exists and was not created by this migration",
                        "name the migration differently, or drop the slot if it is a leftover");
            }
        } catch (PgMigrateException e) {
            add(Severity.BLOCKER, "source_database", db, "", e.getMessage(), "create the database on the source, or"
                    + " remove it from databases(...)");
        } catch (SQLException e) {
            add(Severity.BLOCKER, "source_database", db, "", "checking the database failed: " + e.getMessage(), "");
        }
    }

    private static int major(Connection c) throws SQLException {
        return Integer.parseInt(Queries.string(c, "SHOW server_version_num")) / 10000;
    }

    private static int intSetting(Connection c, String name) throws SQLException {
        return Integer.parseInt(Queries.string(c, "SELECT setting FROM pg_settings WHERE name = ?", name));
    }

    private void add(Severity s, String check, String db, String object, String message, String fix) {
        findings.add(new Finding(s, check, db, object, message, fix));
    }
}
