package io.pgmigrate.micrometer;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** The meters follow a real migration: copy, streaming, a paused stream's growing lag, and the cutover. */
@PostgresPair(source = 14, target = 18)
class MigrationMetricsIT {

    @Test
    void theMetersFollowTheMigrationThroughStreamingAPausedStreamAndTheCutover(@Source PostgresServer source,
            @Target PostgresServer target, @TempDir Path dir) throws Exception {
        String db = "metered";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE readings (id bigserial PRIMARY KEY, sensor integer NOT NULL, value numeric NOT NULL,
                    taken_at timestamptz NOT NULL DEFAULT now());
                INSERT INTO readings (sensor, value) SELECT g % 40, g / 7.0 FROM generate_series(1, 20000) g;
                """);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (MigrationMetrics metrics = new MigrationMetrics("metered");
             Migration m = Migration.builder().name("metered").source(source.endpoint()).target(target.endpoint())
                     .databases(db).stateDirectory(dir.resolve("state")).listener(metrics)
                     .progressInterval(Duration.ofMillis(200)).build()) {
            metrics.bindTo(registry);
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            metrics.poll(m, Duration.ofMillis(200));
            await(() -> gauge(registry, "pgmigrate.phase", db, "phase", "streaming") == 1.0, "phase streaming");
            assertThat(gauge(registry, "pgmigrate.phase", db, "phase", "copying")).isZero();
            assertThat(gauge(registry, "pgmigrate.copy.tables", db, "state", "ready")).isEqualTo(1.0);
            assertThat(gauge(registry, "pgmigrate.wal.retained.bytes", db)).isNotNaN().isGreaterThanOrEqualTo(0);
            // counted by the PostgreSQL 18 subscriber, so known, and nothing failed
            assertThat(registry.get("pgmigrate.apply.errors").tags("database", db).functionCounter().count()).isZero();
            assertThat(registry.get("pgmigrate.apply.conflicts").tags("database", db).functionCounter().count())
                    .isZero();

            // A row that only the target has (written past its fence, in replica mode) meets the same key from the
            // source: the subscriber's apply fails, and counts it, until the row is gone.
            target.execute(db, "SET session_replication_role = replica;"
                    + " INSERT INTO readings (id, sensor, value) VALUES (900001, 1, 1)");
            source.execute(db, "INSERT INTO readings (id, sensor, value) VALUES (900001, 2, 2)");
            await(() -> counter(registry, "pgmigrate.apply.errors", db) >= 1, "the apply error to be counted");
            await(() -> counter(registry, "pgmigrate.apply.conflicts", db) >= 1, "the conflict to be counted");
            target.execute(db, "SET session_replication_role = replica; DELETE FROM readings WHERE id = 900001");
            m.awaitInSync(Duration.ofMinutes(2));
            double errors = counter(registry, "pgmigrate.apply.errors", db);
            await(() -> "2".equals(text(target, db, "SELECT sensor FROM readings WHERE id = 900001")),
                    "the source's row to arrive");
            assertThat(counter(registry, "pgmigrate.apply.errors", db)).as("a counter never goes back")
                    .isGreaterThanOrEqualTo(errors);

            // the target falls behind, deliberately: the stream is paused while the source writes
            m.pause();
            source.execute(db, "INSERT INTO readings (sensor, value) SELECT g % 40, g FROM generate_series(1, 5000) g");
            await(() -> gauge(registry, "pgmigrate.lag.bytes", db) > 100_000, "the lag to show");
            await(() -> gauge(registry, "pgmigrate.wal.retained.bytes", db) > 100_000, "the retained WAL to show");
            assertThat(gauge(registry, "pgmigrate.phase", db, "phase", "paused")).isEqualTo(1.0);
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            await(() -> gauge(registry, "pgmigrate.lag.bytes", db) < 100_000, "the lag to go");

            CutoverReport report = m.cutover();
            assertThat(report.succeeded()).as(report.toText()).isTrue();
            assertThat(registry.get("pgmigrate.cutover.window").tags("direction", "cutover", "outcome", "succeeded")
                    .timer().count()).isEqualTo(1);
            assertThat(registry.get("pgmigrate.cutover.window").timer().totalTime(TimeUnit.NANOSECONDS))
                    .isEqualTo(report.writeUnavailable().toNanos());
            assertThat(registry.get("pgmigrate.cutover.step").tags("step", "fence source").timer().count())
                    .isEqualTo(1);
            assertThat(registry.get("pgmigrate.cutover.step").tags("step", "traffic switch").timer().count())
                    .isEqualTo(1);
            await(() -> gauge(registry, "pgmigrate.phase", db, "phase", "cut_over") == 1.0, "phase cut over");
            m.complete();
        }
    }

    private static double counter(SimpleMeterRegistry registry, String name, String db) {
        return registry.get(name).tags("database", db).functionCounter().count();
    }

    private static String text(PostgresServer server, String db, String sql) {
        try (var c = server.connect(db); var st = c.createStatement(); var rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static double gauge(SimpleMeterRegistry registry, String name, String db, String... tags) {
        return registry.get(name).tag("database", db).tags(tags).gauge().value();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20); // polling a condition
        }
    }
}
