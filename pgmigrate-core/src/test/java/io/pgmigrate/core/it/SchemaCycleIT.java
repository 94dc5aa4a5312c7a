package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Finding;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.Severity;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Objects that need each other (issue 14). SQL-standard function bodies (14+) record what they read in pg_depend, and
 * CREATE OR REPLACE can close a loop: through a view the copy breaks it the way pg_dump does, with a shell of the view
 * first; between two functions nothing can, and preflight says so before anything is changed.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class SchemaCycleIT {

    @Test
    void aViewAndAFunctionThatReadEachOtherAreCopiedWithAShellOfTheView(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "cycle_view";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE public.tickets (id integer PRIMARY KEY, priority integer NOT NULL);
                CREATE FUNCTION public.urgent_count() RETURNS bigint LANGUAGE sql RETURN 0;
                CREATE VIEW public.ticket_board AS
                    SELECT t.id, t.priority,
                           CASE WHEN t.priority < 0 THEN public.urgent_count() ELSE 0 END AS escalated
                    FROM public.tickets t;
                INSERT INTO public.tickets VALUES (1, 5);
                """);
        // Now the function reads the view that calls it (one statement: the driver would split BEGIN ATOMIC).
        source.execute(db, """
                CREATE OR REPLACE FUNCTION public.urgent_count() RETURNS bigint LANGUAGE sql
                    BEGIN ATOMIC SELECT count(*) FROM public.ticket_board WHERE priority > 3; END""");
        try (Migration m = Migration.builder().name("cycle").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            SchemaDiff diff = m.schemaDiff(db);
            assertThat(diff.isEmpty()).as(diff.toText()).isTrue();
            assertThat(Fixtures.count(target, db, "SELECT public.urgent_count()")).isOne();
            m.complete();
        }
    }

    @Test
    void twoFunctionsThatCallEachOtherAreABlockerBeforeAnythingChanges(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "cycle_functions";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE public.nodes (id integer PRIMARY KEY);
                CREATE FUNCTION public.ping(n integer) RETURNS integer LANGUAGE sql RETURN n;
                CREATE FUNCTION public.pong(n integer) RETURNS integer LANGUAGE sql RETURN public.ping(n - 1);
                CREATE OR REPLACE FUNCTION public.ping(n integer) RETURNS integer LANGUAGE sql
                    RETURN CASE WHEN n <= 0 THEN 0 ELSE public.pong(n) END;
                """);
        try (Migration m = Migration.builder().name("cycle2").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            PreflightReport report = m.preflight();
            List<Finding> cycle = report.findings().stream().filter(f -> f.check().equals("schema_copy")).toList();
            assertThat(cycle).as(report.toTable()).singleElement().satisfies(f -> {
                assertThat(f.severity()).isEqualTo(Severity.BLOCKER);
                assertThat(f.message()).contains("public.ping(n integer)").contains("public.pong(n integer)");
                assertThat(f.fix()).contains("break the cycle");
            });
            assertThatThrownBy(m::start).isInstanceOfSatisfying(PgMigrateException.class,
                    e -> assertThat(e.code()).isEqualTo(CoreErrorCode.PREFLIGHT_FAILED));
        }
        assertThat(Fixtures.count(target, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '" + db + "'"))
                .as("nothing was created on the target").isZero();
    }
}
