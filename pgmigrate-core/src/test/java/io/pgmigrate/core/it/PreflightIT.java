package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Finding;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.Severity;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every preflight check against a real server that has the problem: each test builds the problem, runs preflight and
 * asserts the finding (severity, object, and that it carries a fix), and that start() refuses on a blocker while
 * changing nothing.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PreflightIT {

    @Test
    void tablesAndObjectsThatLogicalReplicationDoesNotCarryAreReportedWithTheirFix(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "pf_tables";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE no_key (a int, b text);
                INSERT INTO no_key VALUES (1, 'x'); UPDATE no_key SET b = 'y';
                CREATE TABLE insert_only (a int, b text);
                INSERT INTO insert_only VALUES (1, 'x');
                CREATE TABLE no_key_no_equality (doc json, at point, tags xml[], n int);
                CREATE TABLE full_but_json (doc json, n int);
                ALTER TABLE full_but_json REPLICA IDENTITY FULL;
                CREATE TABLE no_key_varchar (code varchar(10), net cidr, n int);
                CREATE SCHEMA pgmigrate_userdata;
                CREATE TABLE pgmigrate_userdata.notes (id int PRIMARY KEY);
                CREATE TABLE has_unique (a int NOT NULL, b text);
                CREATE UNIQUE INDEX has_unique_a ON has_unique (a);
                UPDATE has_unique SET b = b;
                CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
                CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
                CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
                CREATE TABLE parent (id int PRIMARY KEY);
                CREATE TABLE child (extra text) INHERITS (parent);
                CREATE TABLE priced (id int PRIMARY KEY, net numeric, gross numeric GENERATED ALWAYS AS (net * 1.2) STORED);
                CREATE MATERIALIZED VIEW totals AS SELECT count(*) FROM priced;
                SELECT lo_create(0);
                CREATE EXTENSION adminpack;
                CREATE EXTENSION postgres_fdw;
                CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw;
                CREATE FOREIGN TABLE remote (id int) SERVER elsewhere;
                CREATE AGGREGATE total_len (text) (SFUNC = textcat, STYPE = text);
                CREATE ROLE auditor;
                ALTER TABLE priced ENABLE ROW LEVEL SECURITY;
                CREATE POLICY auditors_see_all ON priced FOR SELECT TO auditor USING (true);
                """);
        // The source is itself a subscriber of some upstream server (not connected: only its catalog entry matters).
        source.execute(db, "CREATE SUBSCRIPTION upstream_feed CONNECTION 'host=127.0.0.1 port=1 dbname=upstream'"
                + " PUBLICATION feed WITH (connect = false)");
        try (Migration m = Migration.builder().name("pf").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            PreflightReport report = m.preflight();
            System.out.print(report.toTable());

            assertFinding(report, Severity.BLOCKER, "replica_identity", "public.no_key");
            // Whether a table was ever updated comes from statistics a reset clears: no guessing (review F20).
            assertFinding(report, Severity.BLOCKER, "replica_identity", "public.insert_only");
            assertThat(finding(report, "replica_identity", "public.insert_only").fix())
                    .contains("REPLICA IDENTITY FULL");
            // FULL needs an equality operator on every column to find the row on the subscriber (review F19).
            assertFinding(report, Severity.BLOCKER, "replica_identity", "public.no_key_no_equality");
            assertThat(finding(report, "replica_identity", "public.no_key_no_equality").fix())
                    .doesNotContain("REPLICA IDENTITY FULL").contains("ADD PRIMARY KEY");
            assertThat(finding(report, "replica_identity", "public.no_key_no_equality").message())
                    .contains("doc json").contains("at point").contains("tags xml[]").doesNotContain("n integer");
            // varchar and cidr compare through text's and inet's operators: FULL works for them.
            assertThat(finding(report, "replica_identity", "public.no_key_varchar").fix())
                    .contains("REPLICA IDENTITY FULL");
            // Already FULL, but a json column cannot be matched: the stream would stop at the first UPDATE.
            assertFinding(report, Severity.BLOCKER, "replica_identity", "public.full_but_json");
            assertThat(finding(report, "replica_identity", "public.full_but_json").message()).contains("doc json");
            assertThat(finding(report, "replica_identity", "public.has_unique").fix())
                    .contains("REPLICA IDENTITY USING INDEX has_unique_a");
            assertFinding(report, Severity.WARNING, "unlogged_table", "public.scratch");
            // Partitioned tables replicate through their root from 13 on: nothing to report on 14.
            assertThat(report.findings()).noneMatch(f -> f.object().equals("public.events"));
            assertFinding(report, Severity.WARNING, "inheritance", "public.child");
            assertFinding(report, Severity.WARNING, "inheritance", "public.parent");
            assertFinding(report, Severity.INFO, "materialized_view", "public.totals"); // the cutover refreshes it
            assertFinding(report, Severity.WARNING, "foreign_table", "public.remote");
            assertFinding(report, Severity.INFO, "large_objects", ""); // the cutover copies them
            assertFinding(report, Severity.INFO, "generated_columns", "");
            // Aggregates are copied (issue 14): nothing the catalog copy cannot create.
            assertThat(report.findings()).noneMatch(f -> f.check().equals("schema_copy")
                    || f.message().contains("total_len"));
            assertFinding(report, Severity.BLOCKER, "missing_roles", "auditor");
            // Tables in a schema of pgmigrate's prefix would escape the fence (review F14).
            assertFinding(report, Severity.BLOCKER, "reserved_schema", "pgmigrate_userdata");
            // Its apply workers write in replica mode, past the fence (review F15).
            assertFinding(report, Severity.WARNING, "upstream_subscription", "upstream_feed");
            // adminpack was removed from PostgreSQL 17: the 18 target cannot install it.
            assertFinding(report, Severity.BLOCKER, "extension", "adminpack");
            assertThat(report.findings()).noneMatch(f -> f.object().equals("postgres_fdw"));
            assertThat(report.findings()).noneMatch(f -> f.object().equals("public.events_2026"));

            assertThatThrownBy(m::start).isInstanceOfSatisfying(PgMigrateException.class,
                    e -> assertThat(e.code()).isEqualTo(CoreErrorCode.PREFLIGHT_FAILED));
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_publication")).as("nothing changed").isZero();
        } finally {
            source.execute(db, "ALTER SUBSCRIPTION upstream_feed SET (slot_name = NONE)");
            source.execute(db, "DROP SUBSCRIPTION upstream_feed");
        }
    }

    @Test
    void targetRowsNameCollisionsAndOpenTransactionsAreReported(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "pf_names";
        source.createDatabase(db);
        source.execute(db, "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pgmigrate_pn_pf_names_pub");
        target.createDatabase(db);
        target.execute(db, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
        try (Migration m = Migration.builder().name("pn").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            PreflightReport report = m.preflight();
            System.out.print(report.toTable());
            assertFinding(report, Severity.BLOCKER, "name_collision", "pgmigrate_pn_pf_names_pub");
            assertFinding(report, Severity.BLOCKER, "target_rows", "public.t");
            assertFinding(report, Severity.INFO, "version_pair", "");
            assertFinding(report, Severity.INFO, "wal_headroom", "source: pg_wal");
        }
    }

    @Test
    void aRoleWithoutThePrivilegesIsToldWhichGrantsItNeeds(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) {
        String db = "pf_roles";
        source.createDatabase(db);
        source.execute(db, "CREATE TABLE owned_by_postgres (id int PRIMARY KEY)");
        for (PostgresServer s : List.of(source, target)) {
            s.execute("postgres", "CREATE ROLE weak LOGIN PASSWORD 'weak-pw' CONNECTION LIMIT 2");
        }
        try (Migration m = Migration.builder().name("pr")
                .source(source.endpoint().user("weak").password("weak-pw"))
                .target(target.endpoint().user("weak").password("weak-pw"))
                .databases(db).stateDirectory(state).build()) {
            PreflightReport report = m.preflight();
            System.out.print(report.toTable());
            assertFinding(report, Severity.BLOCKER, "source_privileges", "weak");
            assertFinding(report, Severity.BLOCKER, "target_privileges", "weak");
            assertFinding(report, Severity.BLOCKER, "target_database", "");
            assertFinding(report, Severity.WARNING, "fence_privileges", "source: weak"); // fenced at cutover
            assertFinding(report, Severity.BLOCKER, "fence_privileges", "target: weak"); // fenced by start()
            assertFinding(report, Severity.WARNING, "connection_limit", "weak");
            assertFinding(report, Severity.WARNING, "schema_changes", "weak"); // not carried without a superuser
            assertThat(report.findings()).filteredOn(f -> f.check().equals("source_privileges"))
                    .anySatisfy(f -> assertThat(f.message()).contains("public.owned_by_postgres"));
        }
        // STREAM needs no subscription on the target, but replica mode and replication origins there: the fix it
        // names is enough.
        try (Migration m = Migration.builder().name("prs").engine(io.pgmigrate.Engine.STREAM)
                .source(source.endpoint().user("weak").password("weak-pw"))
                .target(target.endpoint().user("weak").password("weak-pw"))
                .databases(db).stateDirectory(state.resolve("stream")).build()) {
            PreflightReport report = m.preflight();
            System.out.print(report.toTable());
            Finding apply = report.findings().stream().filter(f -> f.check().equals("target_privileges")
                    && f.severity() == Severity.BLOCKER).findFirst().orElseThrow();
            assertThat(apply.message()).contains("replica mode").doesNotContain("subscription");
            target.execute("postgres", apply.fix());
            assertThat(m.preflight().findings()).noneMatch(f -> f.check().equals("target_privileges")
                    && f.message().contains("replica mode"));
        }
    }

    @Test
    void serverSettingsTooSmallForTheMigrationAndPreparedTransactionsAreReported(@TempDir Path state) {
        var s = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.builder().major(14)
                .config("wal_level", "replica").config("max_replication_slots", "1").config("max_wal_senders", "1")
                .config("max_slot_wal_keep_size", "100MB").config("max_prepared_transactions", "2").start());
        var t = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.builder().major(18)
                .config("wal_level", "replica").config("max_logical_replication_workers", "1")
                .config("max_sync_workers_per_subscription", "0").config("max_active_replication_origins", "1")
                .start());
        try (PostgresServer source = s.join(); PostgresServer target = t.join()) {
            source.createDatabase("a");
            source.createDatabase("b");
            source.execute("a", "BEGIN; CREATE TABLE px (id int); PREPARE TRANSACTION 'left_open'");
            try (Migration m = Migration.builder().name("ps").source(source.endpoint()).target(target.endpoint())
                    .databases("a", "b").stateDirectory(state).build()) {
                PreflightReport report = m.preflight();
                System.out.print(report.toTable());
                assertFinding(report, Severity.BLOCKER, "wal_level", "source: wal_level");
                assertFinding(report, Severity.WARNING, "wal_level", "target: wal_level");
                assertFinding(report, Severity.BLOCKER, "max_replication_slots", "source: max_replication_slots");
                assertFinding(report, Severity.BLOCKER, "max_wal_senders", "source: max_wal_senders");
                assertFinding(report, Severity.BLOCKER, "max_logical_replication_workers",
                        "target: max_logical_replication_workers");
                assertFinding(report, Severity.BLOCKER, "max_sync_workers_per_subscription",
                        "target: max_sync_workers_per_subscription");
                assertFinding(report, Severity.BLOCKER, "replication_origins", "target: max_active_replication_origins");
                assertFinding(report, Severity.WARNING, "max_slot_wal_keep_size", "source: max_slot_wal_keep_size");
                assertFinding(report, Severity.WARNING, "prepared_transactions", "");
            }
            // STREAM runs no worker of the target's: only the origins its sessions apply under count there.
            try (Migration m = Migration.builder().name("pss").engine(io.pgmigrate.Engine.STREAM)
                    .source(source.endpoint()).target(target.endpoint()).databases("a", "b")
                    .stateDirectory(state.resolve("stream")).build()) {
                PreflightReport report = m.preflight();
                System.out.print(report.toTable());
                assertThat(report.findings()).extracting(Finding::check).doesNotContain(
                        "max_logical_replication_workers", "max_sync_workers_per_subscription", "max_worker_processes");
                assertFinding(report, Severity.BLOCKER, "replication_origins", "target: max_active_replication_origins");
                assertFinding(report, Severity.BLOCKER, "max_replication_slots", "source: max_replication_slots");
            }
        }
    }

    @Test
    void aDatabaseMissingOnTheSourceIsABlockerNamingIt(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) {
        try (Migration m = Migration.builder().name("pm").source(source.endpoint()).target(target.endpoint())
                .databases("postgres", "no_such_db").stateDirectory(state).build()) {
            PreflightReport report = m.preflight();
            assertThat(report.blockers()).anySatisfy(f -> {
                assertThat(f.check()).isEqualTo("source_database");
                assertThat(f.database()).isEqualTo("no_such_db");
                assertThat(f.fix()).contains("create the database");
            });
        }
    }

    private static Finding finding(PreflightReport report, String check, String object) {
        return report.findings().stream().filter(f -> f.check().equals(check) && f.object().equals(object))
                .findFirst().orElseThrow(() -> new AssertionError("no " + check + " finding for '" + object
                        + "' in:\n" + report.toTable()));
    }

    private static void assertFinding(PreflightReport report, Severity severity, String check, String object) {
        Finding f = finding(report, check, object);
        assertThat(f.severity()).as(check + " " + object).isEqualTo(severity);
        assertThat(f.message()).isNotBlank();
        if (severity != Severity.INFO) {
            assertThat(f.fix()).as("the fix for " + check + " " + object).isNotBlank();
        }
    }
}
