package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Engine;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@PostgresPair(source = 14, target = 18)
class RestartIT {

    /** The engine these proofs run with; {@link RestartStreamIT} runs them for STREAM. */
    Engine engine() {
        return Engine.NATIVE;
    }

    private Migration migration(PostgresServer source, PostgresServer target, Path state) {
        return Migration.builder().name("restart").source(source.endpoint()).target(target.endpoint())
                .databases("app").stateDirectory(state).engine(engine()).build();
    }

    @Test
    void startTwiceAndStartFromAFreshMigrationContinueWithoutDuplicates(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state,
            @TempDir Path otherState) throws Exception {
        Fixtures.createShop(source, "app", 20_000);

        try (Migration first = migration(source, target, state)) {
            first.start();
            first.start();
        }
        // As after a restart of the JVM: a new object, the same state directory.
        try (Migration second = migration(source, target, state)) {
            second.start();
            second.awaitInSync(Duration.ofMinutes(2));
            source.execute("app", "INSERT INTO items (qty) SELECT g FROM generate_series(1, 500) g");
            second.start();
            second.awaitInSync(Duration.ofMinutes(1));
            assertThat(Fixtures.count(target, "app", "SELECT count(*) FROM items"))
                    .isEqualTo(Fixtures.count(source, "app", "SELECT count(*) FROM items"))
                    .isEqualTo(20_500);
            assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots"))
                    .as("one slot, not one per start()").isEqualTo(1);

            // Another migration of the same name without this state must not take over the objects: its preflight
            // names the collision, start() refuses on it, and while this one runs it cannot change anything at all.
            try (Migration intruder = migration(source, target, otherState)) {
                assertThat(intruder.preflight().blockers()).anySatisfy(f ->
                        assertThat(f.check()).isEqualTo("name_collision"));
                assertThatThrownBy(intruder::start).isInstanceOf(PgMigrateException.class)
                        .extracting(e -> ((PgMigrateException) e).code()).isEqualTo(CoreErrorCode.PREFLIGHT_FAILED);
                assertThatThrownBy(intruder::complete).isInstanceOf(PgMigrateException.class)
                        .extracting(e -> ((PgMigrateException) e).code()).isEqualTo(CoreErrorCode.MIGRATION_IN_USE);
            }
            assertThat(Fixtures.count(source, "app", "SELECT count(*) FROM pg_publication")).isEqualTo(1);
            assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots")).isEqualTo(1);
            source.execute("app", "INSERT INTO items (qty) VALUES (1)");
            second.awaitInSync(Duration.ofMinutes(1));
            assertThat(Fixtures.count(target, "app", "SELECT count(*) FROM items")).isEqualTo(20_501);
            second.complete();
        }
        assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots")).isZero();
    }

    @Test
    void pauseStopsTheStreamWithoutLosingChangesAndStartResumesIt(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        Fixtures.createShop(source, "paused", 1_000);
        try (Migration m = Migration.builder().name("paused").source(source.endpoint()).target(target.endpoint())
                .databases("paused").stateDirectory(state).engine(engine()).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(1));
            m.pause();
            assertThat(m.status().databases()).singleElement()
                    .satisfies(d -> assertThat(d.phase()).isEqualTo(Phase.PAUSED));
            source.execute("paused", "INSERT INTO items (qty) SELECT g FROM generate_series(1, 300) g;"
                    + " DELETE FROM items WHERE id <= 10");
            Thread.sleep(500);
            assertThat(Fixtures.count(target, "paused", "SELECT count(*) FROM items")).as("nothing applied while paused")
                    .isEqualTo(1_000);
            assertThat(Fixtures.count(target, "paused",
                    "SELECT count(*) FROM pg_subscription WHERE subenabled AND subdbid = (SELECT oid FROM pg_database"
                            + " WHERE datname = current_database())")).isZero();
            assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots WHERE active"))
                    .as("nothing streams the slot").isZero();
            assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots")).isOne();
        }
        // A new process resumes, as a supervisor's start would.
        try (Migration m = Migration.builder().name("paused").source(source.endpoint()).target(target.endpoint())
                .databases("paused").stateDirectory(state).engine(engine()).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(1));
            assertThat(m.status().databases()).singleElement()
                    .satisfies(d -> assertThat(d.phase()).isEqualTo(Phase.STREAMING));
            assertThat(Fixtures.fingerprint(target, "paused", "public.items"))
                    .isEqualTo(Fixtures.fingerprint(source, "paused", "public.items"));
            m.complete();
        }
    }

    @Test
    void aLostSlotIsReportedAndCompleteStillCleansUp(@Source PostgresServer source, @Target PostgresServer target,
                                                     @TempDir Path state) throws Exception {
        Fixtures.createShop(source, "lost", 1_000);
        try (Migration m = Migration.builder().name("lost").source(source.endpoint()).target(target.endpoint())
                .databases("lost").stateDirectory(state).engine(engine()).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(1));
            // Someone drops the slot on the source (after stopping what streams it).
            if (engine() == Engine.STREAM) {
                m.pause();
            } else {
                target.execute("lost", "ALTER SUBSCRIPTION pgmigrate_lost_lost_sub DISABLE");
            }
            source.execute("postgres", """
                    DO $$ BEGIN
                      WHILE EXISTS (SELECT 1 FROM pg_replication_slots WHERE active) LOOP
                        PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active;
                        PERFORM pg_sleep(0.05);
                      END LOOP;
                      PERFORM pg_drop_replication_slot('pgmigrate_lost_lost_slot');
                    END $$""");

            assertThat(m.status().database("lost").phase()).isEqualTo(Phase.FAILED);
            assertThatThrownBy(m::start).isInstanceOf(PgMigrateException.class)
                    .extracting(e -> ((PgMigrateException) e).code()).isEqualTo(CoreErrorCode.REPLICATION_OBJECT_LOST);
            m.complete();
        }
        assertThat(Fixtures.count(target, "lost", "SELECT count(*) FROM pg_subscription")).isZero();
        assertThat(Fixtures.count(target, "postgres", "SELECT count(*) FROM pg_replication_origin")).isZero();
        assertThat(Fixtures.count(source, "lost", "SELECT count(*) FROM pg_publication")).isZero();
    }
}
