package io.pgmigrate.core.it;

import io.pgmigrate.CutoverException;
import io.pgmigrate.LeftBehind;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.Phase;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * Data no stream carries (review F14): unlogged rows, rows of an inheritance hierarchy, large objects and an
 * extension's user configuration rows. Preflight warns about them possibly days before; the cutover looks again right
 * before it fences anything and refuses while any holds data, unless the migration accepts leaving that kind behind.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class LeftBehindIT {

    private static final String EXTENSION = "pgmigrate_fixture_jobs";

    @Test
    void dataTheStreamDoesNotCarryStopsTheCutoverUntilItIsMovedOrAccepted(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "left_behind";
        installJobsExtension(source);
        installJobsExtension(target);
        Ledger.create(source, db, 1, false);
        Ledger.createRole(target);
        source.execute(db, """
                CREATE UNLOGGED TABLE session_cache (token text PRIMARY KEY, payload jsonb NOT NULL);
                INSERT INTO session_cache VALUES ('t-1', '{"user": 7}');
                CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT now(), what text NOT NULL);
                CREATE TABLE audit_log_2026 () INHERITS (audit_log);
                INSERT INTO audit_log_2026 (what) VALUES ('login');
                SELECT lo_from_bytea(0, '\\x25504446'::bytea);
                CREATE SCHEMA jobs;
                CREATE EXTENSION pgmigrate_fixture_jobs SCHEMA jobs;
                INSERT INTO jobs.job (schedule, command) VALUES ('*/5 * * * *', 'CALL refresh_totals()');
                """);

        try (Migration m = CutoverContract.streaming(target, db,
                CutoverContract.builder(source, target, state, "behind", db))) {
            CutoverException e = catchThrowableOfType(CutoverException.class, m::cutover);
            assertThat(e).as("the cutover is refused").isNotNull();
            assertThat(e.getMessage())
                    .contains("public.session_cache").contains("public.audit_log_2026")
                    .doesNotContain("public.audit_log,").doesNotContain("public.audit_log]") // the parent is empty
                    .doesNotContain("large object").contains("jobs.job") // the cutover copies large objects
                    .contains("acceptLeftBehind(LeftBehind.UNLOGGED_TABLES, LeftBehind.INHERITED_TABLES,"
                            + " LeftBehind.EXTENSION_CONFIGURATION)")
                    .contains("nothing was changed");
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%fence'"))
                    .as("no fence was installed").isZero();
            CutoverContract.assertSourceAcceptsWrites(source, db);

            // The cache is not needed: emptied, it stops nothing. The extension's own row never did.
            source.execute(db, "TRUNCATE session_cache");
            e = catchThrowableOfType(CutoverException.class, m::cutover);
            assertThat(e).isNotNull();
            assertThat(e.getMessage()).doesNotContain("session_cache").contains("jobs.job");
        }

        try (Migration m = CutoverContract.builder(source, target, state, "behind", db)
                .acceptLeftBehind(LeftBehind.INHERITED_TABLES, LeftBehind.LARGE_OBJECTS,
                        LeftBehind.EXTENSION_CONFIGURATION)
                .build()) {
            m.awaitInSync(java.time.Duration.ofMinutes(2));
            assertThat(m.cutover().succeeded()).isTrue();
            CutoverContract.assertSourceRefusesWrites(source, db);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ledger"))
                    .isEqualTo(Fixtures.count(source, db, "SELECT count(*) FROM ledger"));
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_largeobject_metadata"))
                    .as("accepted: the large object stayed behind").isZero();
            m.complete();
        }
    }

    /**
     * The pre-check runs before the catch-up and the preparation, minutes before the fence; rows written in between
     * would stay behind too. The check runs again inside the fence, where the table kinds are frozen.
     */
    @Test
    void dataWrittenAfterThePreCheckStopsTheCutoverInsideTheFence(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "late_cache";
        Ledger.create(source, db, 1, false);
        Ledger.createRole(target);
        source.execute(db, "CREATE UNLOGGED TABLE session_cache (token text PRIMARY KEY, payload text)");
        MigrationListener writesAfterThePreCheck = new MigrationListener() {
            @Override
            public void onPhase(String database, Phase phase) {
                if (phase == Phase.CUTTING_OVER) { // after the pre-check, before the fence
                    source.execute(db, "INSERT INTO session_cache VALUES ('t-9', 'late')");
                }
            }
        };
        try (Migration m = CutoverContract.streaming(target, db, CutoverContract.builder(source, target, state,
                "late_cache", db).listener(writesAfterThePreCheck))) {
            CutoverException e = catchThrowableOfType(CutoverException.class, m::cutover);
            assertThat(e).as("the cutover is abandoned").isNotNull();
            assertThat(e.getMessage()).contains("inside the fence").contains("public.session_cache")
                    .contains("abandoned");
            CutoverContract.assertSourceAcceptsWrites(source, db);
            m.complete();
        }
    }

    @Test
    void preflightNamesAnExtensionsUserConfigurationRowsButNotItsOwn(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "ext_config";
        installJobsExtension(source);
        source.createDatabase(db);
        source.execute(db, "CREATE SCHEMA jobs; CREATE EXTENSION pgmigrate_fixture_jobs SCHEMA jobs");
        try (Migration m = CutoverContract.builder(source, target, state, "extcfg", db).build()) {
            assertThat(m.preflight().findings()).noneMatch(f -> f.check().equals("extension_configuration"));
            source.execute(db, "INSERT INTO jobs.job (schedule, command) VALUES ('@daily', 'VACUUM ANALYZE')");
            assertThat(m.preflight().findings()).anySatisfy(f -> {
                assertThat(f.check()).isEqualTo("extension_configuration");
                assertThat(f.object()).isEqualTo("jobs.job");
                assertThat(f.fix()).contains("pg_dump --data-only").contains("LeftBehind.EXTENSION_CONFIGURATION");
            });
        }
    }

    /**
     * An extension that keeps user configuration in a table, the way pg_cron or pg_partman do: its script inserts a
     * built-in row and marks the table with {@code pg_extension_config_dump}, whose filter tells user rows apart.
     * Written into the server's own extension directory (the test's binaries), named so it collides with nothing.
     */
    private static void installJobsExtension(PostgresServer server) throws SQLException, IOException {
        Path dir = Path.of(Fixtures.text(server, "postgres",
                "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'"), "extension");
        Files.writeString(dir.resolve(EXTENSION + ".control"), """
                comment = 'pgmigrate test fixture: a job scheduler keeping its jobs in a configuration table'
                default_version = '1.0'
                relocatable = false
                """);
        Files.writeString(dir.resolve(EXTENSION + "--1.0.sql"), """
                CREATE TABLE @extschema@.job (
                    id bigserial PRIMARY KEY,
                    schedule text NOT NULL,
                    command text NOT NULL,
                    builtin boolean NOT NULL DEFAULT false
                );
                INSERT INTO @extschema@.job (schedule, command, builtin) VALUES ('0 3 * * *', 'VACUUM', true);
                SELECT pg_catalog.pg_extension_config_dump('@extschema@.job', 'WHERE NOT builtin');
                """);
    }
}
